-- Per-resident threshold overrides had two tables: the engine read alert_thresholds (010) and
-- the API wrote resident_thresholds (020), so overrides set through the API never took effect.
-- One table now, the engine's, with who changed each value and when.
ALTER TABLE alert_thresholds
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_by bigint REFERENCES accounts (account_id);

-- Keep what was entered through the API, {"rule": {"param": number}} becoming "rule_param";
-- the engine ignores names it does not know, as before.
INSERT INTO alert_thresholds (resident_id, name, value, updated_at, updated_by)
SELECT t.resident_id, r.key || '_' || p.key, (p.value #>> '{}')::double precision,
       t.updated_at, t.updated_by
FROM resident_thresholds t,
     jsonb_each(t.overrides) r,
     jsonb_each(CASE WHEN jsonb_typeof(r.value) = 'object' THEN r.value ELSE '{}' END) p
WHERE jsonb_typeof(p.value) = 'number'
ON CONFLICT (resident_id, name) DO NOTHING;

DROP TABLE resident_thresholds;
