"""Resolved alerts are kept for a retention period, then deleted with their timelines."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg


def purge_resolved_alerts(*, conn: psycopg.Connection, retention_days: int, now: datetime) -> int:
    """Delete alerts resolved before the retention period; return how many.

    An alert a council task still points at is kept: the task's record needs it.
    """
    return conn.execute(
        """DELETE FROM alerts a
           WHERE a.status = 'resolved' AND a.resolved_at < %s
             AND NOT EXISTS (SELECT 1 FROM council_tasks c WHERE c.alert_id = a.alert_id)""",
        (now - timedelta(days=retention_days),),
    ).rowcount
