-- Residents' requests ("the stairwell light is out"), dispatched on the alerts' escalation
-- machinery: a ladder copied onto the request when it opens, timers in esc_due_at, steps run
-- under the row lock, notifications through the outbox, every step on the timeline.

-- Each category climbs its own policy (a row of escalation_policies, editable by a director).
CREATE TABLE request_categories (
    category   text PRIMARY KEY CHECK (category ~ '^[a-z_]{2,40}$'),
    policy_id  text NOT NULL REFERENCES escalation_policies (policy_id)
);

-- The community's promise: grid worker at once; unacknowledged after 1 h, the director;
-- unresolved after 24 h, the difficult-issues list and the street office.
INSERT INTO escalation_policies (policy_id, description, steps)
SELECT 'request_' || c,
       'Request (' || c || '): grid worker at once; director after 1 h unacknowledged; '
       || 'difficult-issues list and street office after 24 h unresolved',
       '[{"action":"notify","targets":["grid_worker"],"stop_on":"acknowledged"},
         {"action":"wait","seconds":3600},
         {"action":"notify","targets":["community_director"],"stop_on":"acknowledged"},
         {"action":"wait","seconds":82800},
         {"action":"notify","targets":["difficult_list","street"],"stop_on":"resolved"}]'
FROM unnest(ARRAY['facilities', 'heating', 'sanitation', 'living_help', 'safety',
                  'neighbours', 'other']) AS c;
INSERT INTO request_categories (category, policy_id)
SELECT c, 'request_' || c
FROM unnest(ARRAY['facilities', 'heating', 'sanitation', 'living_help', 'safety',
                  'neighbours', 'other']) AS c;

-- Where a grid lies (WGS-84 ring of [lon, lat] pairs, GeoJSON order), to route a request
-- by its point with the geofence code.
CREATE TABLE grid_areas (
    grid_id  bigint PRIMARY KEY REFERENCES grids (grid_id) ON DELETE CASCADE,
    polygon  jsonb NOT NULL CHECK (jsonb_typeof(polygon) = 'array')
);

-- The number residents quote: <year>-<6 digits>, counted per year (Asia/Shanghai).
CREATE TABLE request_numbers (
    year  integer PRIMARY KEY,
    last  integer NOT NULL
);

CREATE TYPE request_status AS ENUM ('open', 'acknowledged', 'resolved');

CREATE TABLE requests (
    request_id        bigserial PRIMARY KEY,
    number            text NOT NULL UNIQUE,
    resident_id       bigint REFERENCES residents (resident_id) ON DELETE SET NULL,
    grid_id           bigint REFERENCES grids (grid_id) ON DELETE SET NULL,
    category          text NOT NULL REFERENCES request_categories (category),
    text              text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
    address           text NOT NULL DEFAULT '' CHECK (length(address) <= 200),
    lat               double precision CHECK (lat BETWEEN -90 AND 90),
    lon               double precision CHECK (lon BETWEEN -180 AND 180),
    -- How it reached us: the requester's app, a family member, the hotline, a walk-in,
    -- a door-to-door visit, a grid worker's own report, or a band's service button.
    channel           text NOT NULL CHECK (channel IN ('app', 'family', 'hotline', 'walk_in',
                          'visit', 'grid_worker', 'band')),
    created_by        bigint REFERENCES accounts (account_id),
    device_id         text,
    event_id          text,
    status            request_status NOT NULL DEFAULT 'open',
    opened_at         timestamptz NOT NULL,
    acknowledged_at   timestamptz,
    acknowledged_by   bigint REFERENCES accounts (account_id),
    resolved_at       timestamptz,
    resolved_by       bigint REFERENCES accounts (account_id),
    first_reply_at    timestamptz,            -- the first public reply: the 24 h promise
    -- The first acknowledgement or public reply (kept through reopens): assessment.
    first_response_at timestamptz,
    -- The grid worker paged first: whose assessment the request counts in.
    grid_worker_id    bigint REFERENCES accounts (account_id),
    last_score        smallint,               -- the latest rating (1-5)
    difficult_since   timestamptz,            -- on the difficult-issues list since
    reopen_count      integer NOT NULL DEFAULT 0,
    repeat_of         bigint REFERENCES requests (request_id),
    policy_id         text NOT NULL,
    policy_steps      jsonb NOT NULL,         -- copied when the request opens
    esc_step          integer NOT NULL DEFAULT 0,
    esc_due_at        timestamptz,
    esc_repeats       jsonb NOT NULL DEFAULT '{}',
    updated_at        timestamptz NOT NULL,
    -- The assessment's facts, kept with the row so a year of reports is one lean scan.
    opened_month      date GENERATED ALWAYS AS
                          ((date_trunc('month', opened_at AT TIME ZONE 'Asia/Shanghai'))::date) STORED,
    first_response_s  real GENERATED ALWAYS AS
                          (extract(epoch FROM first_response_at - opened_at)) STORED,
    answered_24h      boolean GENERATED ALWAYS AS
                          (coalesce(first_reply_at - opened_at <= interval '24 hours', false)) STORED,
    CHECK ((lat IS NULL) = (lon IS NULL)),
    CHECK (channel <> 'band' OR (device_id IS NOT NULL AND event_id IS NOT NULL))
);
CREATE UNIQUE INDEX requests_band_event_key ON requests (device_id, event_id)
    WHERE device_id IS NOT NULL;
CREATE INDEX requests_escalation_due_idx ON requests (esc_due_at) WHERE esc_due_at IS NOT NULL;
CREATE INDEX requests_open_idx ON requests (status, opened_at) WHERE status <> 'resolved';
CREATE INDEX requests_resident_idx ON requests (resident_id, opened_at DESC);
CREATE INDEX requests_grid_idx ON requests (grid_id, opened_at DESC);
CREATE INDEX requests_opened_idx ON requests (opened_at);
-- Covering indexes: a year's assessment per grid, grid worker or category is an index-only
-- scan already in group order (no sort of a million rows).
CREATE INDEX requests_assess_grid_idx ON requests (opened_month, grid_id)
    INCLUDE (first_response_s, answered_24h, status, reopen_count, last_score);
CREATE INDEX requests_assess_worker_idx ON requests (opened_month, grid_worker_id)
    INCLUDE (first_response_s, answered_24h, status, reopen_count, last_score, grid_id);
CREATE INDEX requests_assess_category_idx ON requests (opened_month, category)
    INCLUDE (first_response_s, answered_24h, status, reopen_count, last_score, grid_id);

-- What happened to a request: what, who (account), when; `public` entries the requester sees.
CREATE TABLE request_events (
    request_event_id  bigserial PRIMARY KEY,
    request_id        bigint NOT NULL REFERENCES requests (request_id) ON DELETE CASCADE,
    at                timestamptz NOT NULL,
    actor             text NOT NULL,          -- 'escalation', 'band', or 'account:<id>'
    kind              text NOT NULL,          -- opened, notified, acknowledged, reply, ...
    public            boolean NOT NULL DEFAULT false,
    data              jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX request_events_request_idx ON request_events (request_id, request_event_id);

-- The requester's rating after each resolution; 1-2 reopens the request to the director.
CREATE TABLE request_ratings (
    rating_id   bigserial PRIMARY KEY,
    request_id  bigint NOT NULL REFERENCES requests (request_id) ON DELETE CASCADE,
    score       smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment     text NOT NULL DEFAULT '' CHECK (length(comment) <= 500),
    rated_by    bigint NOT NULL REFERENCES accounts (account_id),
    rated_at    timestamptz NOT NULL,
    -- One rating per resolution: the n-th rating rates the request as it stood after
    -- reopen n (0 = first resolution).
    round       integer NOT NULL,
    UNIQUE (request_id, round)
);

-- Classification: keyword rules the staff maintain, and staff-set categories (corrections)
-- that train the classifier.
CREATE TABLE request_keyword_rules (
    rule_id   bigserial PRIMARY KEY,
    keyword   text NOT NULL CHECK (length(keyword) BETWEEN 1 AND 40),
    category  text NOT NULL REFERENCES request_categories (category),
    UNIQUE (keyword, category)
);
INSERT INTO request_keyword_rules (keyword, category) VALUES
    ('路灯', 'facilities'), ('楼道灯', 'facilities'), ('电梯', 'facilities'),
    ('漏水', 'facilities'), ('暖气', 'heating'), ('供暖', 'heating'), ('垃圾', 'sanitation'),
    ('买菜', 'living_help'), ('送饭', 'living_help'), ('小偷', 'safety'), ('噪音', 'neighbours');

CREATE TABLE request_labels (
    request_id  bigint PRIMARY KEY REFERENCES requests (request_id) ON DELETE CASCADE,
    text        text NOT NULL,
    category    text NOT NULL REFERENCES request_categories (category),
    labelled_by bigint REFERENCES accounts (account_id),
    labelled_at timestamptz NOT NULL
);

-- Pages of requests go through the same outbox as alerts'.
ALTER TABLE outbox
    ADD COLUMN request_id bigint REFERENCES requests (request_id) ON DELETE SET NULL;

-- Departments a request can summon (several at once), each with its own deadline; their
-- staff log in with the role department_staff and see only the requests they are summoned to.
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check, ADD CONSTRAINT accounts_role_check
    CHECK (role IN ('admin', 'duty_staff', 'grid_worker', 'community_director',
                    'street_officer', 'family', 'volunteer', 'department_staff'));

CREATE TABLE departments (
    department_id  bigserial PRIMARY KEY,
    code           text NOT NULL UNIQUE CHECK (code ~ '^[a-z_]{2,40}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100)
);
INSERT INTO departments (code, name) VALUES
    ('city_management', '城市管理'), ('property', '物业公司'), ('police', '派出所'),
    ('civil_affairs', '民政'), ('heating_company', '供热公司');

CREATE TABLE account_departments (
    account_id     bigint NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    department_id  bigint NOT NULL REFERENCES departments (department_id) ON DELETE CASCADE,
    PRIMARY KEY (account_id, department_id)
);

CREATE TABLE request_departments (
    request_id       bigint NOT NULL REFERENCES requests (request_id) ON DELETE CASCADE,
    department_id    bigint NOT NULL REFERENCES departments (department_id),
    summoned_at      timestamptz NOT NULL,
    summoned_by      bigint REFERENCES accounts (account_id),
    due_at           timestamptz NOT NULL,       -- the department's report is due
    acknowledged_at  timestamptz,
    acknowledged_by  bigint REFERENCES accounts (account_id),
    reported_at      timestamptz,
    reported_by      bigint REFERENCES accounts (account_id),
    report           text CHECK (length(report) <= 1000),
    summoned_month   date GENERATED ALWAYS AS
                         ((date_trunc('month', summoned_at AT TIME ZONE 'Asia/Shanghai'))::date) STORED,
    PRIMARY KEY (request_id, department_id),
    CHECK (due_at > summoned_at)
);
CREATE INDEX request_departments_due_idx ON request_departments (due_at)
    WHERE reported_at IS NULL;
