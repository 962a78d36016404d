-- Residents and their bands. Minimal here; the API grows both tables.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE residents (
    resident_id   bigserial PRIMARY KEY,
    full_name     text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    device_id     text PRIMARY KEY CHECK (device_id ~ '^[0-9]{15}$'),
    resident_id   bigint REFERENCES residents (resident_id) ON DELETE SET NULL,
    state         text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'revoked')),
    registered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_resident_idx ON devices (resident_id) WHERE resident_id IS NOT NULL;
