-- Care from the data: per-resident daily rollups of what the bands sent (the daily check
-- list reads these, never 30 days of raw samples), and the calls and visits staff record.

-- One row per resident and local day (the community's zone). Sums and counts, not averages,
-- so days combine exactly. Days before yesterday are final; today and yesterday are
-- recomputed when stale (late uploads).
CREATE TABLE care_days (
    resident_id      bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    day              date NOT NULL,
    samples          integer NOT NULL,
    worn_known       integer NOT NULL,   -- samples that said whether the band was worn
    worn_samples     integer NOT NULL,   -- ... and said it was
    steps            integer,            -- highest step counter of the day (resets at midnight)
    hr_sum           double precision,
    hr_n             integer NOT NULL DEFAULT 0,
    sbp_sum          double precision,
    sbp_n            integer NOT NULL DEFAULT 0,
    last_t           timestamptz,        -- newest sample or fix of the day
    night_fixes      integer NOT NULL DEFAULT 0,  -- fixes 22:00-06:00 local
    night_out_fixes  integer NOT NULL DEFAULT 0,  -- ... farther than the home radius
    night_max_m      real,
    packed           bytea,              -- the figures above, packed for reading (rollup.py)
    PRIMARY KEY (day, resident_id)
);
CREATE INDEX care_days_resident_idx ON care_days (resident_id, day);

-- When each day was last rolled up (a day with no data at all still has a row here).
CREATE TABLE care_rollup_days (
    day           date PRIMARY KEY,
    refreshed_at  timestamptz NOT NULL
);

-- Calls and visits, and what came of them. Append-only: the record of who was reached.
CREATE TABLE care_contacts (
    contact_id   bigserial PRIMARY KEY,
    resident_id  bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('call', 'visit')),
    outcome      text NOT NULL CHECK (outcome IN ('reached', 'not_reached', 'needs_follow_up')),
    reasons      text[] NOT NULL DEFAULT '{}',
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    recorded_by  bigint NOT NULL REFERENCES accounts (account_id),
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX care_contacts_resident_idx ON care_contacts (resident_id, at DESC);

-- Priority groups (living alone, disabled, low income): what the data suggests, for staff to
-- confirm or reject. A suggestion never changes a resident's flags by itself; a person's
-- decision does, and the decision is kept as the record of who decided.

CREATE TABLE care_group_suggestions (
    suggestion_id  bigserial PRIMARY KEY,
    resident_id    bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    grp            text NOT NULL CHECK (grp IN ('living_alone', 'disabled', 'low_income')),
    evidence       jsonb NOT NULL CHECK (jsonb_typeof(evidence) = 'object'),
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'confirmed', 'rejected')),
    created_at     timestamptz NOT NULL,
    decided_at     timestamptz,
    decided_by     bigint REFERENCES accounts (account_id),
    note           text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX care_group_suggestions_pending_key ON care_group_suggestions (resident_id, grp)
    WHERE status = 'pending';
CREATE INDEX care_group_suggestions_resident_idx ON care_group_suggestions (resident_id, grp,
    decided_at DESC);

-- Early warnings (api/care/warnings.py) are alerts about a grid or the community, not a
-- resident: they page the community director and the duty console until acknowledged.
INSERT INTO escalation_policies (policy_id, description, steps) VALUES
('director', 'Early warnings: the community director and the duty console, until acknowledged',
 '[{"action":"notify","targets":["duty_console","community_director"],"stop_on":"acknowledged"}]');
INSERT INTO escalation_rule_policies (rule, policy_id) VALUES ('early_warning', 'director');

-- Residents' councils: topics, meetings with an agenda and attendance, one vote per
-- household and topic, decisions as tasks with an owner and a deadline. An overdue task
-- opens an alert (rule council_task_overdue) that climbs the director's ladder.
CREATE TABLE council_topics (
    topic_id     bigserial PRIMARY KEY,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body         text NOT NULL DEFAULT '' CHECK (length(body) <= 4000),
    source       text NOT NULL CHECK (source IN ('resident', 'request', 'staff')),
    resident_id  bigint REFERENCES residents (resident_id) ON DELETE SET NULL,
    status       text NOT NULL DEFAULT 'proposed'
                 CHECK (status IN ('proposed', 'on_agenda', 'decided', 'rejected')),
    created_by   bigint NOT NULL REFERENCES accounts (account_id),
    created_at   timestamptz NOT NULL,
    decided_at   timestamptz,
    votes_for    integer,
    votes_against integer,
    votes_abstain integer
);

CREATE TABLE council_meetings (
    meeting_id  bigserial PRIMARY KEY,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    place       text NOT NULL DEFAULT '' CHECK (length(place) <= 200),
    starts_at   timestamptz NOT NULL,
    created_by  bigint NOT NULL REFERENCES accounts (account_id)
);

CREATE TABLE council_agenda (
    meeting_id  bigint NOT NULL REFERENCES council_meetings (meeting_id) ON DELETE CASCADE,
    topic_id    bigint NOT NULL REFERENCES council_topics (topic_id),
    position    integer NOT NULL,
    PRIMARY KEY (meeting_id, topic_id)
);

CREATE TABLE council_attendance (
    meeting_id   bigint NOT NULL REFERENCES council_meetings (meeting_id) ON DELETE CASCADE,
    resident_id  bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    PRIMARY KEY (meeting_id, resident_id)
);

-- One vote per household (residents sharing an address) and topic.
CREATE TABLE council_votes (
    meeting_id   bigint NOT NULL,
    topic_id     bigint NOT NULL,
    household    text NOT NULL,
    resident_id  bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    choice       text NOT NULL CHECK (choice IN ('for', 'against', 'abstain')),
    cast_at      timestamptz NOT NULL,
    recorded_by  bigint NOT NULL REFERENCES accounts (account_id),
    PRIMARY KEY (meeting_id, topic_id, household),
    FOREIGN KEY (meeting_id, topic_id) REFERENCES council_agenda (meeting_id, topic_id)
);

CREATE TABLE council_tasks (
    task_id        bigserial PRIMARY KEY,
    topic_id       bigint NOT NULL UNIQUE REFERENCES council_topics (topic_id),
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    owner_account  bigint NOT NULL REFERENCES accounts (account_id),
    due_on         date NOT NULL,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    progress_note  text NOT NULL DEFAULT '' CHECK (length(progress_note) <= 1000),
    done_at        timestamptz,
    alert_id       bigint REFERENCES alerts (alert_id),
    created_at     timestamptz NOT NULL
);
CREATE INDEX council_tasks_open_idx ON council_tasks (due_on) WHERE status = 'open';

INSERT INTO escalation_rule_policies (rule, policy_id) VALUES ('council_task_overdue', 'director');

-- The community's resource list: partner units, what they offer (with opening times,
-- weekly capacity and any discount for residents), which bookings they serve, and how well.
CREATE TABLE partners (
    partner_id  bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('hospital', 'school', 'company', 'service_station',
                                              'other')),
    phone       text NOT NULL DEFAULT '' CHECK (length(phone) <= 50),
    address     text NOT NULL DEFAULT '' CHECK (length(address) <= 300),
    active      boolean NOT NULL DEFAULT true
);

CREATE TABLE partner_offers (
    offer_id           bigserial PRIMARY KEY,
    partner_id         bigint NOT NULL REFERENCES partners (partner_id) ON DELETE CASCADE,
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    category           text NOT NULL CHECK (category IN ('clinic', 'tutoring', 'training',
                                                         'household', 'other')),
    discount_pct       smallint NOT NULL DEFAULT 0 CHECK (discount_pct BETWEEN 0 AND 100),
    opening_hours      text NOT NULL DEFAULT '' CHECK (length(opening_hours) <= 200),
    capacity_per_week  integer CHECK (capacity_per_week > 0),
    active             boolean NOT NULL DEFAULT true
);
CREATE INDEX partner_offers_partner_idx ON partner_offers (partner_id);

-- A booking served by a partner (kept beside bookings, which the bookings module owns).
CREATE TABLE booking_partners (
    booking_id  bigint PRIMARY KEY REFERENCES bookings (booking_id) ON DELETE CASCADE,
    partner_id  bigint NOT NULL REFERENCES partners (partner_id),
    offer_id    bigint REFERENCES partner_offers (offer_id),
    linked_by   bigint NOT NULL REFERENCES accounts (account_id),
    linked_at   timestamptz NOT NULL
);
CREATE INDEX booking_partners_partner_idx ON booking_partners (partner_id);

CREATE TABLE partner_reviews (
    review_id    bigserial PRIMARY KEY,
    partner_id   bigint NOT NULL REFERENCES partners (partner_id) ON DELETE CASCADE,
    booking_id   bigint REFERENCES bookings (booking_id) ON DELETE SET NULL,
    rating       smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    recorded_by  bigint NOT NULL REFERENCES accounts (account_id),
    at           timestamptz NOT NULL
);
CREATE INDEX partner_reviews_partner_idx ON partner_reviews (partner_id, at);
