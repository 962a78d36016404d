"""Alerts: raise from findings, and the console's actions. Owns writes to alerts/alert_events.

Every function takes keyword-only arguments and runs in the caller's connection inside its
own (nested) transaction; changes reach the console through the outbox ('changes' channel,
delivered to the Redis stream `{prefix}alerts:changes`) in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting.alerts import escalation
from alerting.alerts.outbox import enqueue_change, enqueue_notifications
from alerting.rules.common import SEVERITY_NAMES, Finding

# Rules whose alert the engine resolves itself when the condition clears.
AUTO_RESOLVE_RULES = {"band_not_worn", "device_offline", "low_battery"}
# A new SOS or fall event on an already open alert pages these again.
REPAGE_ON_REPEAT = {
    "sos": ["duty_console", "grid_worker", "family"],
    "fall": ["duty_console", "grid_worker", "family"],
}


class AlertError(Exception):
    """Base of the alerting package's errors."""


class AlertNotFound(AlertError):
    def __init__(self, alert_id: int):
        super().__init__(f"alert {alert_id} not found")
        self.alert_id = alert_id


class InvalidTransition(AlertError):
    def __init__(self, alert_id: int, status: str, action: str):
        super().__init__(f"alert {alert_id} is {status}; cannot {action}")
        self.alert_id, self.status, self.action = alert_id, status, action


def priority_of(severity: int, *, living_alone: bool, disabled: bool, low_income: bool) -> int:
    """Priority 1 (most urgent) .. 5 from urgency (severity) and impact (risk flags)."""
    flags = int(bool(living_alone)) + int(bool(disabled)) + int(bool(low_income))
    impact = 1 + min(flags, 2)  # 1 base, 2 one flag, 3 two or more
    return max(1, min(5, 7 - (severity + impact)))


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _subject(conn: psycopg.Connection, device_id: str) -> dict[str, Any]:
    row = conn.execute(
        """SELECT d.device_id, r.resident_id, r.full_name, r.living_alone, r.disabled,
                  r.low_income
           FROM devices d LEFT JOIN residents r USING (resident_id)
           WHERE d.device_id = %s""",
        (device_id,),
    ).fetchone()
    if row is None or row[1] is None:
        return {
            "subject_key": f"device:{device_id}",
            "resident_id": None,
            "name": None,
            "living_alone": False,
            "disabled": False,
            "low_income": False,
        }
    return {
        "subject_key": f"resident:{row[1]}",
        "resident_id": row[1],
        "name": row[2],
        "living_alone": row[3],
        "disabled": row[4],
        "low_income": row[5],
    }


def record(conn, *, alert_id: int, at: datetime, actor: str, kind: str, data: dict | None = None):
    """Add a timeline entry and publish it as a change; return the entry id."""
    entry_id = conn.execute(
        """INSERT INTO alert_events (alert_id, at, actor, kind, data)
           VALUES (%s, %s, %s, %s, %s) RETURNING alert_event_id""",
        (alert_id, at, actor, kind, Jsonb(data or {})),
    ).fetchone()[0]  # type: ignore[index]  # RETURNING always yields a row
    enqueue_change(conn, alert_event_id=entry_id, alert_id=alert_id, kind=kind, actor=actor, at=at)
    return entry_id


def apply_finding(conn: psycopg.Connection, *, finding: Finding, now: datetime) -> int | None:
    """Open, update, or (for a cleared condition) resolve the alert; return its id or None."""
    with conn.transaction():
        subject = _subject(conn, finding.device_id)
        if finding.clear:
            return _auto_resolve(conn, subject, finding, now)
        if finding.source_event_id is not None:
            fresh = conn.execute(
                """INSERT INTO alerting_seen_events (device_id, event_id, seen_at)
                   VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1""",
                (finding.device_id, finding.source_event_id, now),
            ).fetchone()
            if fresh is None:
                return None
        for _attempt in range(2):
            try:
                with conn.transaction():
                    return _open_or_update(conn, subject, finding, now)
            except psycopg.errors.UniqueViolation:
                continue  # another engine opened it between our look and our insert
        raise AlertError(f"could not open alert for {subject['subject_key']} {finding.rule}")


def _open_or_update(conn, subject, finding: Finding, now: datetime) -> int | None:
    observed = _ms_to_dt(finding.observed_at_ms)
    row = conn.execute(
        """SELECT alert_id, severity, last_seen_at FROM alerts
           WHERE subject_key = %s AND rule = %s AND status <> 'resolved' FOR UPDATE""",
        (subject["subject_key"], finding.rule),
    ).fetchone()
    priority = priority_of(
        finding.severity,
        living_alone=subject["living_alone"],
        disabled=subject["disabled"],
        low_income=subject["low_income"],
    )
    if row is not None:
        alert_id, severity, last_seen = row
        is_event = finding.source_event_id is not None
        if is_event or observed > last_seen:
            conn.execute(
                """UPDATE alerts SET occurrences = occurrences + 1,
                          last_seen_at = greatest(last_seen_at, %s), updated_at = %s,
                          details = details || %s WHERE alert_id = %s""",
                (observed, now, Jsonb(finding.details), alert_id),
            )
            record(
                conn,
                alert_id=alert_id,
                at=now,
                actor="engine",
                kind="repeated",
                data={"observed_at": observed.isoformat(), "event_id": finding.source_event_id},
            )
        if is_event and finding.rule in REPAGE_ON_REPEAT:
            # Another press while the alert is open, even acknowledged: whoever is on it hears
            # about it now (120 is not called twice for one open emergency).
            sent = enqueue_notifications(
                conn,
                alert_id=alert_id,
                targets=REPAGE_ON_REPEAT[finding.rule],
                step=-1,
                repetition=0,
                now=now,
                key_base=f"event-{finding.source_event_id}",
            )
            record(
                conn,
                alert_id=alert_id,
                at=now,
                actor="engine",
                kind="notified",
                data={"step": None, "targets": sent, "event_id": finding.source_event_id},
            )
        if finding.severity > severity:
            conn.execute(
                """UPDATE alerts SET severity = %s, priority = least(priority, %s), updated_at = %s
                   WHERE alert_id = %s""",
                (finding.severity, priority, now, alert_id),
            )
            record(
                conn,
                alert_id=alert_id,
                at=now,
                actor="engine",
                kind="severity_raised",
                data={"from": SEVERITY_NAMES[severity], "to": SEVERITY_NAMES[finding.severity]},
            )
        return alert_id
    if finding.source_event_id is None:
        # An observation already covered by a resolved alert (or older than a person's
        # resolution) does not open a new one; a fresh one after an automatic resolution does.
        stale = conn.execute(
            """SELECT 1 FROM alerts WHERE subject_key = %s AND rule = %s AND status = 'resolved'
               AND (last_seen_at >= %s OR (resolved_by <> 'engine' AND resolved_at >= %s))
               LIMIT 1""",
            (subject["subject_key"], finding.rule, observed, observed),
        ).fetchone()
        if stale:
            return None
    policy_id, steps = escalation.policy_for(conn, rule=finding.rule)
    alert_id = conn.execute(
        """INSERT INTO alerts (subject_key, resident_id, device_id, rule, severity, priority,
               title, details, first_seen_at, last_seen_at, opened_at, lat, lon, acc_m,
               policy_id, policy_steps, esc_step, esc_due_at, updated_at)
           VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,0,%s,%s) RETURNING alert_id""",
        (
            subject["subject_key"],
            subject["resident_id"],
            finding.device_id,
            finding.rule,
            finding.severity,
            priority,
            finding.title or finding.rule,
            Jsonb(finding.details),
            observed,
            observed,
            now,
            finding.lat,
            finding.lon,
            finding.acc_m,
            policy_id,
            Jsonb(steps),
            now,
            now,
        ),
    ).fetchone()[0]  # type: ignore[index]  # RETURNING always yields a row
    record(
        conn,
        alert_id=alert_id,
        at=now,
        actor="engine",
        kind="opened",
        data={
            "severity": SEVERITY_NAMES[finding.severity],
            "priority": priority,
            "observed_at": observed.isoformat(),
        },
    )
    escalation.advance(conn, alert_id=alert_id, now=now)
    return alert_id


def _auto_resolve(conn, subject, finding: Finding, now: datetime) -> int | None:
    if finding.rule not in AUTO_RESOLVE_RULES:
        return None
    row = conn.execute(
        """SELECT alert_id FROM alerts WHERE subject_key = %s AND rule = %s
           AND status <> 'resolved' FOR UPDATE""",
        (subject["subject_key"], finding.rule),
    ).fetchone()
    if row is None:
        return None
    _set_resolved(conn, row[0], actor="engine", resolution="condition cleared", now=now)
    return row[0]


def _set_resolved(conn, alert_id: int, *, actor: str, resolution: str, now: datetime) -> None:
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


def raise_system_alert(
    conn: psycopg.Connection, *, rule: str, title: str, details: dict, now: datetime
) -> int:
    """Open (or update) an alert about the system itself, e.g. an overdue escalation step."""
    with conn.transaction():
        row = conn.execute(
            """SELECT alert_id FROM alerts WHERE subject_key = 'system' AND rule = %s
               AND status <> 'resolved' FOR UPDATE""",
            (rule,),
        ).fetchone()
        if row is not None:
            conn.execute(
                """UPDATE alerts SET occurrences = occurrences + 1, last_seen_at = %s,
                   details = %s, updated_at = %s WHERE alert_id = %s""",
                (now, Jsonb(details), now, row[0]),
            )
            return row[0]
        policy_id, steps = escalation.policy_for(conn, rule=rule)
        alert_id = conn.execute(
            """INSERT INTO alerts (subject_key, rule, severity, priority, title, details,
                   first_seen_at, last_seen_at, opened_at, policy_id, policy_steps, esc_due_at,
                   updated_at)
               VALUES ('system', %s, 3, 2, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               RETURNING alert_id""",
            (rule, title, Jsonb(details), now, now, now, policy_id, Jsonb(steps), now, now),
        ).fetchone()[0]  # type: ignore[index]  # RETURNING always yields a row
        record(conn, alert_id=alert_id, at=now, actor="watchdog", kind="opened", data=details)
        escalation.advance(conn, alert_id=alert_id, now=now)
        return alert_id


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
        _set_resolved(conn, alert_id, actor=actor, resolution=resolution, now=now)


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


def list_alerts(
    conn: psycopg.Connection,
    *,
    status: list[str] | None = None,
    resident_id: int | None = None,
    device_id: str | None = None,
    rule: str | None = None,
    min_severity: int | None = None,
    grid_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts newest first, filtered; page with before_id (the last alert_id seen)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT a.* FROM alerts a LEFT JOIN residents r USING (resident_id)
               WHERE (%(status)s::alert_status[] IS NULL OR a.status = ANY(%(status)s))
                 AND (%(resident_id)s::bigint IS NULL OR a.resident_id = %(resident_id)s)
                 AND (%(device_id)s::text IS NULL OR a.device_id = %(device_id)s)
                 AND (%(rule)s::text IS NULL OR a.rule = %(rule)s)
                 AND (%(min_severity)s::int IS NULL OR a.severity >= %(min_severity)s)
                 AND (%(grid_id)s::bigint IS NULL OR r.grid_id = %(grid_id)s)
                 AND (%(before_id)s::bigint IS NULL OR a.alert_id < %(before_id)s)
               ORDER BY a.alert_id DESC LIMIT %(limit)s""",
            {
                "status": status,
                "resident_id": resident_id,
                "device_id": device_id,
                "rule": rule,
                "min_severity": min_severity,
                "grid_id": grid_id,
                "before_id": before_id,
                "limit": min(max(limit, 1), 1000),
            },
        ).fetchall()


def timeline(conn: psycopg.Connection, *, alert_id: int) -> list[dict[str, Any]]:
    """Every change of the alert, oldest first: what, who, when."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT alert_event_id, at, actor, kind, data FROM alert_events
               WHERE alert_id = %s ORDER BY alert_event_id""",
            (alert_id,),
        ).fetchall()
