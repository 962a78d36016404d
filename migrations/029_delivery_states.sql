-- Delivery you can see: each outbox row says how far it got (pending -> sent -> delivered, or
-- failed), which recipient and which link of that recipient's channel chain it is, and the
-- provider's id and receipt; an SOS/fall notice not delivered in time raises an alert.
-- sent: a provider accepted it and we wait for its delivery receipt (SMS, voice call).
ALTER TABLE outbox
    DROP CONSTRAINT outbox_status_check,
    ADD CONSTRAINT outbox_status_check CHECK (
        status IN ('pending', 'held', 'sent', 'delivered', 'failed', 'grouped', 'cancelled')),
    ADD COLUMN target text,            -- recipient kind: family, gateway_120, grid_worker, ...
    ADD COLUMN chain_key text,         -- the links of one recipient's channel chain share it
    ADD COLUMN chain_pos smallint NOT NULL DEFAULT 0,
    ADD COLUMN sent_at timestamptz,
    ADD COLUMN provider_ref text,      -- the provider's message id (BizId, SerialNo, CallId)
    ADD COLUMN receipt jsonb,          -- the provider's delivery receipt, as it sent it
    ADD COLUMN unreached_at timestamptz;  -- when the "not reached in time" alert was raised

CREATE INDEX outbox_provider_ref_idx ON outbox (provider_ref) WHERE provider_ref IS NOT NULL;
CREATE INDEX outbox_chain_idx ON outbox (chain_key, chain_pos) WHERE chain_key IS NOT NULL;
-- SOS/fall notices (priority 0) that may still miss their deadline.
CREATE INDEX outbox_urgent_unconfirmed_idx ON outbox (created_at)
    WHERE priority = 0 AND unreached_at IS NULL AND status IN ('pending', 'sent', 'failed');

INSERT INTO escalation_policies (policy_id, description, steps) VALUES
('emergency_unreached',
 'An SOS/fall notice not delivered in time: the duty console, and the director on every channel',
 '[{"action":"notify","targets":["duty_console","community_director"],"stop_on":"resolved"}]');
INSERT INTO escalation_rule_policies (rule, policy_id) VALUES
('emergency_unreached', 'emergency_unreached');

-- Failures from before this migration were recorded on their timelines already.
UPDATE outbox SET unreached_at = now() WHERE status = 'failed';
