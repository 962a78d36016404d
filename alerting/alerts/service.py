"""Alerts, the public surface: the console's actions and queries, plus the engine's entry
points re-exported from `raising` (one import for the API and the engine).

Every function takes keyword-only arguments and runs in the caller's connection inside its
own (nested) transaction; changes reach the console through the outbox ('changes' channel,
delivered to the Redis stream `{prefix}alerts:changes`) in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerting.alerts import escalation
from alerting.alerts.changes import record, set_resolved
from alerting.alerts.errors import AlertError, AlertNotFound, InvalidTransition
from alerting.alerts.raising import (
    AUTO_RESOLVE_RULES,
    apply_finding,
    priority_of,
    raise_system_alert,
    resolve_band_alerts,
)

__all__ = [
    "AUTO_RESOLVE_RULES",
    "AlertError",
    "AlertNotFound",
    "ORDERS",
    "VIEWS",
    "InvalidTransition",
    "acknowledge",
    "add_note",
    "alerts_query",
    "apply_finding",
    "assign",
    "get",
    "get_or_raise",
    "list_alerts",
    "priority_of",
    "raise_system_alert",
    "record",
    "resolve",
    "resolve_band_alerts",
    "timeline",
]


# --- the console's actions ------------------------------------------------------------------


def _lock(conn, alert_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM alerts WHERE alert_id = %s FOR UPDATE", (alert_id,))
        found = row.fetchone()
    if found is None:
        raise AlertNotFound(alert_id)
    return found


def acknowledge(conn: psycopg.Connection, *, alert_id: int, actor: str, now: datetime) -> None:
    """Acknowledge an open alert: paging stops; steps that wait for resolution continue."""
    with conn.transaction():
        alert = _lock(conn, alert_id)
        if alert["status"] != "open":
            raise InvalidTransition(alert_id, alert["status"], "acknowledge")
        conn.execute(
            """UPDATE alerts SET status = 'acknowledged', acknowledged_at = %s,
                      acknowledged_by = %s, updated_at = %s WHERE alert_id = %s""",
            (now, actor, now, alert_id),
        )
        if not escalation.has_steps_after_ack(alert["policy_steps"], alert["esc_step"]):
            conn.execute("UPDATE alerts SET esc_due_at = NULL WHERE alert_id = %s", (alert_id,))
        record(conn, alert_id=alert_id, at=now, actor=actor, kind="acknowledged")


def assign(
    conn: psycopg.Connection, *, alert_id: int, actor: str, assignee: str | None, now: datetime
) -> None:
    """Set (or clear, with None) who is working on the alert."""
    with conn.transaction():
        alert = _lock(conn, alert_id)
        if alert["status"] == "resolved":
            raise InvalidTransition(alert_id, "resolved", "assign")
        conn.execute(
            "UPDATE alerts SET assignee = %s, updated_at = %s WHERE alert_id = %s",
            (assignee, now, alert_id),
        )
        record(
            conn,
            alert_id=alert_id,
            at=now,
            actor=actor,
            kind="assigned",
            data={"assignee": assignee, "previous": alert["assignee"]},
        )


def add_note(conn: psycopg.Connection, *, alert_id: int, actor: str, text: str, now: datetime):
    """Add a free-text note to the alert's timeline."""
    with conn.transaction():
        _lock(conn, alert_id)
        return record(
            conn, alert_id=alert_id, at=now, actor=actor, kind="note", data={"text": text}
        )


def resolve(
    conn: psycopg.Connection, *, alert_id: int, actor: str, resolution: str, now: datetime
) -> None:
    """Resolve the alert: escalation stops for good."""
    with conn.transaction():
        alert = _lock(conn, alert_id)
        if alert["status"] == "resolved":
            raise InvalidTransition(alert_id, "resolved", "resolve")
        set_resolved(conn, alert_id, actor=actor, resolution=resolution, now=now)


def get(conn: psycopg.Connection, *, alert_id: int) -> dict[str, Any] | None:
    """One alert as a dict, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM alerts WHERE alert_id = %s", (alert_id,)).fetchone()


def get_or_raise(conn: psycopg.Connection, *, alert_id: int) -> dict[str, Any]:
    """One alert as a dict; AlertNotFound if there is none."""
    found = get(conn, alert_id=alert_id)
    if found is None:
        raise AlertNotFound(alert_id)
    return found


# What a read of alerts returns: the whole row, a summary for lists (with the resident's
# name and grid), or the summary with details and position.
_SUMMARY = """a.alert_id, a.rule, a.title, a.severity, a.priority,
    a.status::text AS status, a.resident_id, r.full_name AS resident_name, r.grid_id,
    a.device_id, a.occurrences, a.first_seen_at, a.last_seen_at, a.opened_at,
    a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.resolution,
    a.assignee, a.updated_at, (a.lat IS NOT NULL AND a.lon IS NOT NULL) AS has_position,
    r.timezone AS resident_timezone"""
VIEWS = {
    "row": "a.*",
    "summary": _SUMMARY,
    "detail": _SUMMARY + ", a.details, a.lat, a.lon, a.acc_m",
}
# Newest first, or most urgent first and within a priority the one waiting longest first.
ORDERS = {
    "newest": "a.alert_id DESC",
    "priority": "a.priority, a.severity DESC, a.opened_at, a.alert_id",
}


def alerts_query(
    *,
    view: str = "row",
    scope_sql: str = "TRUE",
    status: list[str] | None = None,
    priority: list[int] | None = None,
    resident_id: int | None = None,
    device_id: str | None = None,
    rule: str | None = None,
    min_severity: int | None = None,
    grid_id: int | None = None,
    alert_ids: list[int] | None = None,
    before_id: int | None = None,
    order: str = "newest",
    limit: int = 100,
    offset: int = 0,
) -> tuple[str, dict[str, Any]]:
    """The one read of alerts: SQL and parameters, for a sync or an async connection.

    `view` is a key of VIEWS and `order` of ORDERS; `scope_sql` is a constant WHERE fragment
    over `a` (alerts) and `r` (residents) whose parameters the caller adds. A filter left
    None (or empty) does not filter.
    """
    sql = f"""SELECT {VIEWS[view]} FROM alerts a LEFT JOIN residents r USING (resident_id)
        WHERE ({scope_sql})
          AND (%(status)s::alert_status[] IS NULL OR a.status = ANY(%(status)s))
          AND (%(priority)s::int[] IS NULL OR a.priority = ANY(%(priority)s))
          AND (%(resident_id)s::bigint IS NULL OR a.resident_id = %(resident_id)s)
          AND (%(device_id)s::text IS NULL OR a.device_id = %(device_id)s)
          AND (%(rule)s::text IS NULL OR a.rule = %(rule)s)
          AND (%(min_severity)s::int IS NULL OR a.severity >= %(min_severity)s)
          AND (%(grid_id)s::bigint IS NULL OR r.grid_id = %(grid_id)s)
          AND (%(alert_ids)s::bigint[] IS NULL OR a.alert_id = ANY(%(alert_ids)s))
          AND (%(before_id)s::bigint IS NULL OR a.alert_id < %(before_id)s)
        ORDER BY {ORDERS[order]} LIMIT %(limit)s OFFSET %(offset)s"""
    params = {
        "status": status or None,
        "priority": priority or None,
        "resident_id": resident_id,
        "device_id": device_id,
        "rule": rule,
        "min_severity": min_severity,
        "grid_id": grid_id,
        "alert_ids": alert_ids,
        "before_id": before_id,
        "limit": max(limit, 1),
        "offset": offset,
    }
    return sql, params


def list_alerts(conn: psycopg.Connection, **filters: Any) -> list[dict[str, Any]]:
    """Alerts newest first, filtered as `alerts_query` describes."""
    sql, params = alerts_query(**filters)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def timeline(conn: psycopg.Connection, *, alert_id: int) -> list[dict[str, Any]]:
    """Every change of the alert, oldest first: what, who, when."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT alert_event_id, at, actor, kind, data FROM alert_events
               WHERE alert_id = %s ORDER BY alert_event_id""",
            (alert_id,),
        ).fetchall()
