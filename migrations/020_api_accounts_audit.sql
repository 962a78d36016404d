-- API: accounts and roles, the grids an account looks after, family links with consent,
-- and the audit log of every read of a resident's location or vitals (PIPL).

CREATE TABLE accounts (
    account_id     bigserial PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.@-]{3,64}$'),
    full_name      text NOT NULL DEFAULT '' CHECK (length(full_name) <= 200),
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('admin', 'duty_staff', 'grid_worker',
                       'community_director', 'street_officer', 'family', 'volunteer')),
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- A grid worker looks after one grid; a community director or street officer after the
-- grids of their community or street. Admin and duty staff see every resident.
CREATE TABLE account_grids (
    account_id  bigint NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    grid_id     bigint NOT NULL REFERENCES grids (grid_id) ON DELETE CASCADE,
    PRIMARY KEY (account_id, grid_id)
);
CREATE INDEX account_grids_grid_idx ON account_grids (grid_id);

-- A family member reaches a resident only through a link whose consent is on record and
-- not withdrawn. Withdrawn links are kept: they are the record that consent existed.
CREATE TABLE family_links (
    link_id               bigserial PRIMARY KEY,
    resident_id           bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    account_id            bigint NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    relation              text NOT NULL DEFAULT '' CHECK (length(relation) <= 50),
    consent_method        text NOT NULL CHECK (consent_method IN ('written', 'verbal_witnessed',
                              'in_app', 'guardian')),
    consent_note          text NOT NULL DEFAULT '' CHECK (length(consent_note) <= 500),
    consent_recorded_by   bigint NOT NULL REFERENCES accounts (account_id),
    consent_given_at      timestamptz NOT NULL DEFAULT now(),
    withdrawn_at          timestamptz,
    withdrawn_by          bigint REFERENCES accounts (account_id)
);
CREATE UNIQUE INDEX family_links_active_key ON family_links (resident_id, account_id)
    WHERE withdrawn_at IS NULL;
CREATE INDEX family_links_account_idx ON family_links (account_id) WHERE withdrawn_at IS NULL;

-- Who read whose sensitive data, when and why. Append-only from the API.
CREATE TABLE audit_log (
    audit_id     bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    account_id   bigint NOT NULL REFERENCES accounts (account_id),
    role         text NOT NULL,
    resident_id  bigint NOT NULL,
    action       text NOT NULL,        -- e.g. location.latest, location.history, vitals.latest
    purpose      text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 200),
    on_behalf    boolean NOT NULL DEFAULT false
);
CREATE INDEX audit_log_resident_idx ON audit_log (resident_id, at);
CREATE INDEX audit_log_account_idx ON audit_log (account_id, at);

-- Per-resident alert threshold overrides: {"rule_name": {"param": value, ...}, ...}.
CREATE TABLE resident_thresholds (
    resident_id  bigint PRIMARY KEY REFERENCES residents (resident_id) ON DELETE CASCADE,
    overrides    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(overrides) = 'object'),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   bigint REFERENCES accounts (account_id)
);

-- Bands: credentials are issued once; the database keeps only the broker's hash.
ALTER TABLE devices
    ADD COLUMN mqtt_password_hash text,
    ADD COLUMN provisioned_at     timestamptz,
    ADD COLUMN revoked_at         timestamptz;
