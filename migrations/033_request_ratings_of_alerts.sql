-- Residents' requests, what issue 12 left: ratings of resolved SOS and fall alerts, and a
-- department assessment that is one lean scan like the others.

-- The resident (their own account) or a linked family member rates how a resolved SOS or
-- fall was handled: once per account and alert. The rating counts in the assessment of the
-- resident's grid (as it was when rated) in the month the alert opened (Asia/Shanghai).
CREATE TABLE alert_ratings (
    rating_id     bigserial PRIMARY KEY,
    alert_id      bigint NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
    score         smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment       text NOT NULL DEFAULT '' CHECK (length(comment) <= 500),
    rated_by      bigint NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    rated_at      timestamptz NOT NULL,
    grid_id       bigint REFERENCES grids (grid_id) ON DELETE SET NULL,
    opened_month  date NOT NULL,
    UNIQUE (alert_id, rated_by)
);
CREATE INDEX alert_ratings_assess_idx ON alert_ratings (opened_month, grid_id) INCLUDE (score);

-- The request's facts a department's figures count (its grid, reopened, latest rating),
-- kept on the department's row: the year's department report was a hash join of a million
-- requests (2.2 s); now it is an index-only scan in group order like the other reports.
-- Triggers keep the copies equal to the request's, whichever statement changes them.
ALTER TABLE request_departments
    ADD COLUMN request_grid_id   bigint,
    ADD COLUMN request_reopened  boolean NOT NULL DEFAULT false,
    ADD COLUMN request_score     smallint;

UPDATE request_departments rd
SET request_grid_id = q.grid_id, request_reopened = q.reopen_count > 0,
    request_score = q.last_score
FROM requests q WHERE q.request_id = rd.request_id;

CREATE FUNCTION request_departments_copy_request_facts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT q.grid_id, q.reopen_count > 0, q.last_score
    INTO NEW.request_grid_id, NEW.request_reopened, NEW.request_score
    FROM requests q WHERE q.request_id = NEW.request_id;
    RETURN NEW;
END $$;

CREATE TRIGGER request_departments_copy_request_facts
    BEFORE INSERT ON request_departments
    FOR EACH ROW EXECUTE FUNCTION request_departments_copy_request_facts();

CREATE FUNCTION requests_share_facts_with_departments() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE request_departments
    SET request_grid_id = NEW.grid_id, request_reopened = NEW.reopen_count > 0,
        request_score = NEW.last_score
    WHERE request_id = NEW.request_id;
    RETURN NULL;
END $$;

CREATE TRIGGER requests_share_facts_with_departments
    AFTER UPDATE OF grid_id, reopen_count, last_score ON requests
    FOR EACH ROW
    WHEN (OLD.grid_id IS DISTINCT FROM NEW.grid_id
          OR OLD.reopen_count IS DISTINCT FROM NEW.reopen_count
          OR OLD.last_score IS DISTINCT FROM NEW.last_score)
    EXECUTE FUNCTION requests_share_facts_with_departments();

CREATE INDEX request_departments_assess_idx ON request_departments (summoned_month, department_id)
    INCLUDE (summoned_at, acknowledged_at, reported_at, request_grid_id, request_reopened,
             request_score);
