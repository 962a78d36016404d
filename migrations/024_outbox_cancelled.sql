-- A page still queued when its alert is resolved (or acknowledged, for an escalation step
-- that stops on acknowledgement) is not sent: the dispatcher marks it cancelled.
-- stop_on: the alert status that makes the page moot; NULL (the change stream) never is.
ALTER TABLE outbox
    DROP CONSTRAINT outbox_status_check,
    ADD CONSTRAINT outbox_status_check CHECK (
        status IN ('pending', 'held', 'delivered', 'failed', 'grouped', 'cancelled')),
    ADD COLUMN stop_on text CHECK (stop_on IN ('acknowledged', 'resolved'));

UPDATE outbox SET stop_on = 'resolved'
WHERE channel <> 'changes' AND status IN ('pending', 'held');
