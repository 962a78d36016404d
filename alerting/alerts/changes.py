"""The two writes every alert change shares: a timeline entry (with its change event) and
resolution. Kept apart so raising, escalation and the console's actions can all use them.
"""

from __future__ import annotations

from datetime import datetime

from psycopg.types.json import Jsonb

from alerting.alerts.outbox import enqueue_change
from eldercare.db import returned_row


def record(conn, *, alert_id: int, at: datetime, actor: str, kind: str, data: dict | None = None):
    """Add a timeline entry and publish it as a change; return the entry id."""
    (entry_id,) = returned_row(
        conn.execute(
            """INSERT INTO alert_events (alert_id, at, actor, kind, data)
               VALUES (%s, %s, %s, %s, %s) RETURNING alert_event_id""",
            (alert_id, at, actor, kind, Jsonb(data or {})),
        )
    )
    enqueue_change(conn, alert_event_id=entry_id, alert_id=alert_id, kind=kind, actor=actor, at=at)
    return entry_id


def set_resolved(conn, alert_id: int, *, actor: str, resolution: str, now: datetime) -> None:
    conn.execute(
        """UPDATE alerts SET status = 'resolved', resolved_at = %s, resolved_by = %s,
                  resolution = %s, esc_due_at = NULL, updated_at = %s WHERE alert_id = %s""",
        (now, actor, resolution, now, alert_id),
    )
    record(
        conn,
        alert_id=alert_id,
        at=now,
        actor=actor,
        kind="resolved",
        data={"resolution": resolution},
    )
