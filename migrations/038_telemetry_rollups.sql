-- Per-minute and per-hour roll-ups of the vitals, kept by `eldercare jobs` (ingest/rollups.py):
-- the Apache build of TimescaleDB has no continuous aggregates.

-- When the row was stored, set by the database. received_at cannot say which rows are new: a
-- batch retried through a database outage commits long after its received_at. now() is the
-- storing transaction's start, so rows commit in stored_at order up to one transaction's
-- length, which the roll-up job waits out. Rows stored before this migration read as stored
-- now (one value, a fast default: no table rewrite), so the first roll-up covers them.
ALTER TABLE telemetry_samples ADD COLUMN stored_at timestamptz NOT NULL DEFAULT now();
-- Rows are appended in stored_at order within every chunk, late rows included, so a BRIN
-- index finds the new ones for a few pages per chunk, at almost no cost to ingest.
CREATE INDEX telemetry_samples_stored_at_brin ON telemetry_samples
    USING brin (stored_at) WITH (pages_per_range = 16, autosummarize = on);

-- Worn samples only (what charts and baselines use). Sums and counts rather than means so
-- buckets merge exactly: mean = hr_sum / hr_n; hr_sumsq gives the standard deviation.
CREATE TABLE telemetry_minute (
    device_id  text        NOT NULL,
    t          timestamptz NOT NULL,   -- start of the bucket
    n          integer     NOT NULL,   -- worn samples
    hr_n       integer     NOT NULL,
    hr_sum     bigint,
    hr_sumsq   bigint,
    hr_min     smallint,
    hr_max     smallint,
    sbp_n      integer     NOT NULL,
    sbp_sum    bigint,
    sbp_min    smallint,
    sbp_max    smallint,
    dbp_n      integer     NOT NULL,
    dbp_sum    bigint,
    dbp_min    smallint,
    dbp_max    smallint,
    steps_min  integer,
    steps_max  integer,
    temp_n     integer     NOT NULL,
    temp_sum   double precision,
    temp_min   real,
    temp_max   real,
    PRIMARY KEY (device_id, t)
);
SELECT create_hypertable('telemetry_minute', 't', chunk_time_interval => interval '7 days');

CREATE TABLE telemetry_hour (LIKE telemetry_minute INCLUDING ALL);
SELECT create_hypertable('telemetry_hour', 't', chunk_time_interval => interval '90 days');

-- The roll-ups hold exactly the worn rows with stored_at <= this; newer rows are read raw.
CREATE TABLE telemetry_rollup_watermark (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    stored_at  timestamptz NOT NULL
);
-- Just before the stored_at that rows already here were given: the first run rolls them up.
INSERT INTO telemetry_rollup_watermark (stored_at) VALUES (now() - interval '1 microsecond');
