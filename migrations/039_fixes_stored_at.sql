-- When a location fix was stored, set by the database, as telemetry has since 038: the
-- incremental engine reads new rows past a stored_at watermark, so a batch that ingest
-- retried through a database outage is new when it commits, whatever its received_at.
-- Fixes stored before this migration read as stored now (a fast default: no table rewrite).
ALTER TABLE location_fixes ADD COLUMN stored_at timestamptz NOT NULL DEFAULT now();
-- Rows are appended in stored_at order within every chunk, late rows included: a BRIN index
-- finds the new ones for a few pages per chunk, at almost no cost to ingest.
CREATE INDEX location_fixes_stored_at_brin ON location_fixes
    USING brin (stored_at) WITH (pages_per_range = 16, autosummarize = on);
