-- The incremental alerting engine reads only rows received past its watermark (and counts
-- the last minutes before it to catch late commits): both need received_at indexed. Queries
-- also bound t, so only the newest chunks are searched.
CREATE INDEX IF NOT EXISTS telemetry_samples_received_at_idx ON telemetry_samples (received_at);
CREATE INDEX IF NOT EXISTS location_fixes_received_at_idx ON location_fixes (received_at);
