-- What the bands send. Hypertables partitioned by the band's sample time; the unique
-- indexes (which must contain the time column) make storage idempotent.

CREATE TYPE fix_source AS ENUM ('gnss', 'wifi', 'cell');
CREATE TYPE event_type AS ENUM (
    'sos', 'fall', 'wear_off', 'wear_on', 'power_on', 'power_off', 'low_battery',
    'service_request'
);
CREATE TYPE dead_letter_reason AS ENUM (
    'malformed_json', 'schema', 'out_of_range', 'clock_skew', 'unknown_device', 'too_large'
);

CREATE TABLE telemetry_samples (
    device_id   text        NOT NULL,
    t           timestamptz NOT NULL,
    hr          smallint,
    sbp         smallint,
    dbp         smallint,
    steps       integer,
    worn        boolean,
    received_at timestamptz NOT NULL
);
SELECT create_hypertable('telemetry_samples', 't', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX telemetry_samples_device_t_key ON telemetry_samples (device_id, t);

CREATE TABLE location_fixes (
    device_id   text             NOT NULL,
    t           timestamptz      NOT NULL,
    lat         double precision NOT NULL,  -- WGS-84, whatever datum the band reported
    lon         double precision NOT NULL,
    acc_m       real             NOT NULL,
    src         fix_source       NOT NULL,
    reported_crs text            NOT NULL DEFAULT 'wgs84',
    received_at timestamptz      NOT NULL
);
SELECT create_hypertable('location_fixes', 't', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX location_fixes_device_t_key ON location_fixes (device_id, t);

CREATE TABLE device_events (
    device_id   text             NOT NULL,
    event_id    text             NOT NULL CHECK (length(event_id) BETWEEN 1 AND 64),
    t           timestamptz      NOT NULL,
    type        event_type       NOT NULL,
    service     text,
    lat         double precision,
    lon         double precision,
    acc_m       real,
    received_at timestamptz      NOT NULL
);
SELECT create_hypertable('device_events', 't', chunk_time_interval => interval '7 days');
-- (device, id) is the event's identity; t is in the key only because hypertables need it.
-- Ingest also skips an id already stored under another t (see ingest/store.py).
CREATE UNIQUE INDEX device_events_device_id_t_key ON device_events (device_id, event_id, t);

-- Latest status report per band (heartbeat, battery, Last Will).
CREATE TABLE device_status (
    device_id   text PRIMARY KEY,
    sent_at     timestamptz NOT NULL,
    online      boolean     NOT NULL,
    battery     smallint,
    charging    boolean,
    rssi        smallint,
    fw          text,
    received_at timestamptz NOT NULL
);

CREATE TABLE dead_letters (
    dead_letter_id bigserial PRIMARY KEY,
    received_at    timestamptz        NOT NULL,
    topic          text               NOT NULL,
    device_id      text,
    reason         dead_letter_reason NOT NULL,
    detail         text               NOT NULL,
    payload        bytea              NOT NULL,
    -- Redelivered or re-sent bad input is recorded once.
    fingerprint    bytea              NOT NULL UNIQUE
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);
CREATE INDEX dead_letters_device_idx ON dead_letters (device_id, received_at);
