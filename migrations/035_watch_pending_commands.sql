-- Commands for a watch that is not connected to the gateway, sent in order when it returns.
-- Kept here rather than in the gateway's memory so they survive a gateway restart; the
-- gateway caps them per band (oldest dropped) and skips those past expires_at.
CREATE TABLE watch_pending_commands (
    command_seq bigserial   PRIMARY KEY,
    device_id   text        NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    kind        text        NOT NULL,
    content     bytea       NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX watch_pending_commands_device_idx ON watch_pending_commands (device_id, command_seq);
