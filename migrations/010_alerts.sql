-- Alerts, their timeline, escalation ladders and the delivery outbox.
-- Numbering: 010-019 alerting.

CREATE TYPE alert_status AS ENUM ('open', 'acknowledged', 'resolved');

-- Ordered steps, e.g. [{"action":"notify","targets":["grid_worker"],"stop_on":"acknowledged"},
-- {"action":"wait","seconds":3600}, {"action":"repeat","to_step":0,"times":2}].
CREATE TABLE escalation_policies (
    policy_id    text PRIMARY KEY,
    description  text NOT NULL DEFAULT '',
    steps        jsonb NOT NULL CHECK (jsonb_typeof(steps) = 'array'),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Which policy a rule's alerts climb; rules not listed use 'standard'.
CREATE TABLE escalation_rule_policies (
    rule       text PRIMARY KEY,
    policy_id  text NOT NULL REFERENCES escalation_policies (policy_id)
);

INSERT INTO escalation_policies (policy_id, description, steps) VALUES
('immediate',
 'SOS and falls: everybody at once, then keep paging the console and grid worker until acknowledged',
 '[{"action":"notify","targets":["duty_console","grid_worker","family","gateway_120"],"stop_on":"resolved"},
   {"action":"wait","seconds":120},
   {"action":"notify","targets":["duty_console","grid_worker"],"stop_on":"acknowledged"},
   {"action":"wait","seconds":300},
   {"action":"repeat","to_step":2,"times":5}]'),
('standard',
 'Grid worker first; community director after 1 h unacknowledged; street level after 24 h unresolved',
 '[{"action":"notify","targets":["duty_console","grid_worker"],"stop_on":"acknowledged"},
   {"action":"wait","seconds":3600},
   {"action":"notify","targets":["community_director"],"stop_on":"acknowledged"},
   {"action":"wait","seconds":82800},
   {"action":"notify","targets":["street"],"stop_on":"resolved"}]'),
('console_only', 'Watchdog and system alerts: the duty console only',
 '[{"action":"notify","targets":["duty_console"],"stop_on":"resolved"}]');

INSERT INTO escalation_rule_policies (rule, policy_id) VALUES
('sos', 'immediate'), ('fall', 'immediate'), ('escalation_overdue', 'console_only');

CREATE TABLE alerts (
    alert_id         bigserial PRIMARY KEY,
    -- 'resident:<id>', or 'device:<imei>' for a band bound to nobody, or 'system'.
    subject_key      text NOT NULL,
    resident_id      bigint REFERENCES residents (resident_id) ON DELETE SET NULL,
    device_id        text,
    rule             text NOT NULL,
    severity         smallint NOT NULL CHECK (severity BETWEEN 1 AND 4),  -- 4 = critical
    priority         smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),  -- 1 = most urgent
    status           alert_status NOT NULL DEFAULT 'open',
    title            text NOT NULL,
    details          jsonb NOT NULL DEFAULT '{}',
    occurrences      integer NOT NULL DEFAULT 1,
    first_seen_at    timestamptz NOT NULL,   -- data time of the condition
    last_seen_at     timestamptz NOT NULL,
    opened_at        timestamptz NOT NULL,   -- when the engine raised it
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    resolved_by      text,
    resolution       text,
    assignee         text,
    lat              double precision,       -- WGS-84, where known
    lon              double precision,
    acc_m            real,
    policy_id        text NOT NULL,
    policy_steps     jsonb NOT NULL,         -- copied when the alert opens
    esc_step         integer NOT NULL DEFAULT 0,   -- next step to run
    esc_due_at       timestamptz,                  -- NULL: ladder finished
    esc_repeats      jsonb NOT NULL DEFAULT '{}',
    updated_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX alerts_one_open_per_rule ON alerts (subject_key, rule) WHERE status <> 'resolved';
CREATE INDEX alerts_escalation_due_idx ON alerts (esc_due_at) WHERE esc_due_at IS NOT NULL;
CREATE INDEX alerts_opened_idx ON alerts (opened_at DESC);
CREATE INDEX alerts_resident_idx ON alerts (resident_id, opened_at DESC);
CREATE INDEX alerts_open_idx ON alerts (status, priority) WHERE status <> 'resolved';

-- What happened to an alert: what, who, when.
CREATE TABLE alert_events (
    alert_event_id  bigserial PRIMARY KEY,
    alert_id        bigint NOT NULL REFERENCES alerts (alert_id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    actor           text NOT NULL,           -- 'engine', 'escalation', 'dispatcher', or a user
    kind            text NOT NULL,           -- opened, repeated, severity_raised, acknowledged, ...
    data            jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, alert_event_id);

-- Written in the same transaction as the alert change; sent by the dispatcher.
CREATE TABLE outbox (
    outbox_id        bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    channel          text NOT NULL,   -- console, changes, community_gateway, family_gateway, gateway_120
    alert_id         bigint REFERENCES alerts (alert_id) ON DELETE SET NULL,
    priority         smallint NOT NULL DEFAULT 3,
    payload          jsonb NOT NULL,
    -- pending -> delivered | failed; held rows wait for storm grouping, then become
    -- pending or grouped (folded into one grouped row).
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'held', 'delivered', 'failed', 'grouped')),
    group_key        text,
    grouped_into     bigint,
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    delivered_at     timestamptz
);
CREATE INDEX outbox_due_idx ON outbox (channel, priority, next_attempt_at)
    WHERE status IN ('pending', 'held');

-- Per-resident overrides of rule thresholds (names as in alerting/rules/thresholds.py).
CREATE TABLE alert_thresholds (
    resident_id  bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    name         text NOT NULL,
    value        double precision NOT NULL,
    PRIMARY KEY (resident_id, name)
);

-- Each resident's own normal by local hour of day, refreshed by the engine.
CREATE TABLE resident_baselines (
    resident_id  bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    hour         smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
    hr_mean      real,
    hr_std       real,
    hr_n         integer NOT NULL DEFAULT 0,
    days         integer NOT NULL DEFAULT 0,
    computed_at  timestamptz NOT NULL,
    PRIMARY KEY (resident_id, hour)
);

-- Events the engine already turned into alerts (stream and sweep may both deliver one).
CREATE TABLE alerting_seen_events (
    device_id  text NOT NULL,
    event_id   text NOT NULL,
    seen_at    timestamptz NOT NULL,
    PRIMARY KEY (device_id, event_id)
);

-- Sweep watermarks per engine shard (received_at of the newest row swept).
CREATE TABLE alerting_watermarks (
    name   text PRIMARY KEY,
    value  timestamptz NOT NULL
);
