-- Care's daily rollup is kept by a background job (`eldercare jobs`, api/care/rollup.py),
-- incrementally: each run adds the rows stored since the last one (by `received_at`, so a
-- late upload for an earlier day lands on that day) to the per-resident daily sums.

-- Everything stored up to this instant is in care_days (one row: the job's watermark).
CREATE TABLE care_rollup_watermark (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    received_upto  timestamptz NOT NULL
);

-- The job reads only what arrived since its watermark; per chunk these keep that a short
-- index range instead of a scan of the whole 30-day window.
CREATE INDEX telemetry_samples_received_idx ON telemetry_samples (received_at);
CREATE INDEX location_fixes_received_idx ON location_fixes (received_at);

-- `packed` (the row's figures in the binary layout the list reads, rollup.DAY_LAYOUT) now
-- follows every insert and merge of a row, instead of a separate UPDATE of a whole day.
CREATE FUNCTION care_days_pack() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.packed := int8send(NEW.resident_id) || int4send(NEW.day - DATE '2000-01-01')
        || int4send(NEW.samples) || int4send(NEW.worn_known) || int4send(NEW.worn_samples)
        || float8send(coalesce(NEW.steps::float8, 'NaN'))
        || float8send(coalesce(NEW.hr_sum, 'NaN')) || int4send(NEW.hr_n)
        || float8send(coalesce(NEW.sbp_sum, 'NaN')) || int4send(NEW.sbp_n)
        || float8send(coalesce(date_part('epoch', NEW.last_t), 'NaN'))
        || int4send(NEW.night_out_fixes) || float4send(coalesce(NEW.night_max_m, 'NaN'));
    RETURN NEW;
END $$;
CREATE TRIGGER care_days_pack BEFORE INSERT OR UPDATE ON care_days
    FOR EACH ROW EXECUTE FUNCTION care_days_pack();

-- Each day's packed rows joined in resident order, rebuilt by the job for the days it
-- changed: the list reads 30 of these instead of aggregating 30 x residents rows itself.
-- Read whole on every list, so stored uncompressed.
CREATE TABLE care_day_blocks (
    day     date PRIMARY KEY,
    packed  bytea NOT NULL
);
ALTER TABLE care_day_blocks ALTER COLUMN packed SET STORAGE EXTERNAL;

-- A resident's request served by a partner (kept beside requests, which the requests module
-- owns), as booking_partners is for bookings.
CREATE TABLE request_partners (
    request_id  bigint PRIMARY KEY REFERENCES requests (request_id) ON DELETE CASCADE,
    partner_id  bigint NOT NULL REFERENCES partners (partner_id),
    offer_id    bigint REFERENCES partner_offers (offer_id),
    linked_by   bigint NOT NULL REFERENCES accounts (account_id),
    linked_at   timestamptz NOT NULL
);
CREATE INDEX request_partners_partner_idx ON request_partners (partner_id);
