-- When a band was bound to its current resident: positions from before belong to whoever wore
-- it then, so the API never shows them to the new resident's family.
ALTER TABLE devices ADD COLUMN bound_at timestamptz;
