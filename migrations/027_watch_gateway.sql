-- The 4G watch gateway: the id a watch speaks with, its clock, body temperature, cell towers.

-- Many watches identify themselves with a 10-digit id (often the IMEI's last 10 digits)
-- rather than the IMEI; provisioning records it beside the IMEI. NULL: not a watch.
-- watch_utc_offset_min: how far the watch's clock runs ahead of UTC (NULL: the default).
ALTER TABLE devices
    ADD COLUMN watch_id text UNIQUE CHECK (watch_id ~ '^[0-9A-Za-z]{1,20}$'),
    ADD COLUMN watch_utc_offset_min smallint CHECK (watch_utc_offset_min BETWEEN -840 AND 840);

-- Body temperature, degrees Celsius (contract: telemetry samples[].temp_c).
ALTER TABLE telemetry_samples ADD COLUMN temp_c real;

-- A frame from a watch that does not read as the protocol.
ALTER TYPE dead_letter_reason ADD VALUE IF NOT EXISTS 'malformed_frame';

-- Cell towers, imported by an operator from an OpenCellID CSV export; never looked up online.
CREATE TABLE cell_towers (
    mcc     smallint         NOT NULL,
    mnc     smallint         NOT NULL,
    lac     integer          NOT NULL,
    cid     bigint           NOT NULL,
    radio   text             NOT NULL,
    lat     double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon     double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    range_m integer          NOT NULL CHECK (range_m >= 0),
    PRIMARY KEY (mcc, mnc, lac, cid)
);

-- What a watch without a GNSS fix heard: cells and Wi-Fi access points, kept whether or
-- not the tower table placed it (resolved_* NULL: no tower matched).
CREATE TABLE watch_observations (
    device_id    text             NOT NULL,
    t            timestamptz      NOT NULL,
    cells        jsonb            NOT NULL,
    wifi         jsonb            NOT NULL,
    resolved_lat double precision,
    resolved_lon double precision,
    resolved_acc_m real,
    received_at  timestamptz      NOT NULL
);
SELECT create_hypertable('watch_observations', 't', chunk_time_interval => interval '7 days');
CREATE UNIQUE INDEX watch_observations_device_t_key ON watch_observations (device_id, t);
