"""The escalation watchdog: an alert of its own when ladder steps are overdue.

It watches every ladder: alerts' and residents' requests'. It lives apart from `escalation`
because it raises an alert, and raising an alert climbs a ladder: `raising` imports
`escalation`, and this module imports both.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from alerting import request_ladder
from alerting.alerts.escalation import ALERTS, Ladder
from alerting.alerts.raising import raise_system_alert

log = logging.getLogger(__name__)

# What the watchdog's alert lists, per ladder: details[<key>] holds the late ones' ids.
WATCHED = (("alert_ids", ALERTS), ("request_ids", request_ladder.REQUESTS))


def overdue(
    conn: psycopg.Connection, *, now: datetime, grace_s: float, ladder: Ladder = ALERTS
) -> list[int]:
    """Objects of `ladder` whose next escalation step should have run more than grace_s ago."""
    rows = conn.execute(
        sql.SQL(
            """SELECT {id} FROM {t} WHERE esc_due_at < %s AND status <> 'resolved'
               ORDER BY esc_due_at LIMIT 100"""
        ).format(t=sql.Identifier(ladder.table), id=sql.Identifier(ladder.id_column)),
        (now - timedelta(seconds=grace_s),),
    ).fetchall()
    return [r[0] for r in rows]


def check_overdue(conn: psycopg.Connection, *, now: datetime, grace_s: float) -> int | None:
    """Raise an alert of its own when escalation steps (of alerts or requests) are overdue;
    its id, or None."""
    late = {key: overdue(conn, now=now, grace_s=grace_s, ladder=ladder) for key, ladder in WATCHED}
    if not any(late.values()):
        return None
    log.error(
        "escalation steps overdue for %s alerts and %s requests",
        len(late["alert_ids"]),
        len(late["request_ids"]),
    )
    return raise_system_alert(
        conn,
        rule="escalation_overdue",
        title="Escalation steps are overdue",
        details={**late, "grace_s": grace_s},
        now=now,
    )
