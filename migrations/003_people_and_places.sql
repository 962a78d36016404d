-- What both the alerting engine and the API need to know about a resident.
-- Numbering: 001-009 foundation, 010-019 alerting, 020-029 API.

CREATE TABLE grids (
    grid_id  bigserial PRIMARY KEY,
    name     text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100)
);

ALTER TABLE residents
    ADD COLUMN birth_date    date,
    ADD COLUMN sex           text CHECK (sex IN ('female', 'male', 'other')),
    ADD COLUMN address       text NOT NULL DEFAULT '',
    ADD COLUMN phone         text,
    ADD COLUMN grid_id       bigint REFERENCES grids (grid_id),
    ADD COLUMN living_alone  boolean NOT NULL DEFAULT false,
    ADD COLUMN disabled      boolean NOT NULL DEFAULT false,
    ADD COLUMN low_income    boolean NOT NULL DEFAULT false,
    ADD COLUMN medical_notes text NOT NULL DEFAULT '',
    ADD COLUMN timezone      text NOT NULL DEFAULT 'Asia/Shanghai',
    ADD COLUMN home_lat      double precision CHECK (home_lat BETWEEN -90 AND 90),
    ADD COLUMN home_lon      double precision CHECK (home_lon BETWEEN -180 AND 180);
CREATE INDEX residents_grid_idx ON residents (grid_id);

CREATE TABLE emergency_contacts (
    contact_id   bigserial PRIMARY KEY,
    resident_id  bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    name         text NOT NULL,
    relation     text NOT NULL DEFAULT '',
    phone        text NOT NULL,
    priority     smallint NOT NULL DEFAULT 1
);
CREATE INDEX emergency_contacts_resident_idx ON emergency_contacts (resident_id, priority);

-- Safe zones, stored in WGS-84 whatever datum they were drawn in.
CREATE TABLE geofences (
    geofence_id    bigserial PRIMARY KEY,
    resident_id    bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    shape          text NOT NULL CHECK (shape IN ('circle', 'polygon')),
    center_lat     double precision,
    center_lon     double precision,
    radius_m       real CHECK (radius_m > 0),
    polygon        jsonb,            -- GeoJSON Polygon coordinates: [[[lon, lat], ...]]
    input_crs      text NOT NULL DEFAULT 'wgs84' CHECK (input_crs IN ('wgs84', 'gcj02')),
    active_from    time,             -- local time of the resident; NULL = always active
    active_until   time,             -- may be before active_from (22:00-06:00)
    enabled        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((shape = 'circle' AND center_lat IS NOT NULL AND center_lon IS NOT NULL
            AND radius_m IS NOT NULL AND polygon IS NULL)
        OR (shape = 'polygon' AND polygon IS NOT NULL AND center_lat IS NULL)),
    CHECK ((active_from IS NULL) = (active_until IS NULL))
);
CREATE INDEX geofences_resident_idx ON geofences (resident_id) WHERE enabled;
