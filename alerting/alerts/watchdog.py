"""The escalation watchdog: an alert of its own when ladder steps are overdue.

It lives apart from `escalation` because it raises an alert, and raising an alert climbs a
ladder: `raising` imports `escalation`, and this module imports both.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg

from alerting.alerts.raising import raise_system_alert

log = logging.getLogger(__name__)


def overdue(conn: psycopg.Connection, *, now: datetime, grace_s: float) -> list[int]:
    """Alerts whose next escalation step should have run more than grace_s ago."""
    rows = conn.execute(
        """SELECT alert_id FROM alerts WHERE esc_due_at < %s AND status <> 'resolved'
           ORDER BY esc_due_at LIMIT 100""",
        (now - timedelta(seconds=grace_s),),
    ).fetchall()
    return [r[0] for r in rows]


def check_overdue(conn: psycopg.Connection, *, now: datetime, grace_s: float) -> int | None:
    """Raise an alert of its own when escalation steps are overdue; its id, or None."""
    late = overdue(conn, now=now, grace_s=grace_s)
    if not late:
        return None
    log.error("escalation steps overdue for %s alerts", len(late))
    return raise_system_alert(
        conn,
        rule="escalation_overdue",
        title="Escalation steps are overdue",
        details={"alert_ids": late, "grace_s": grace_s},
        now=now,
    )
