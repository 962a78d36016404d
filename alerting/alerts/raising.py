"""Turning the engine's findings into alerts: open, repeat, raise severity, auto-resolve."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerting.alerts import escalation
from alerting.alerts.changes import record, set_resolved
from alerting.alerts.errors import AlertError
from alerting.alerts.outbox import enqueue_notifications
from alerting.rules.common import HIGH, SEVERITY_NAMES, Finding
from eldercare.db import returned_row

# Rules whose alert the engine resolves itself when the condition clears.
AUTO_RESOLVE_RULES = frozenset({"band_not_worn", "device_offline", "low_battery"})
# A new SOS or fall event on an already open alert pages these again.
REPAGE_ON_REPEAT = {
    "sos": ["duty_console", "grid_worker", "family"],
    "fall": ["duty_console", "grid_worker", "family"],
}


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


def apply_finding(conn: psycopg.Connection, *, finding: Finding, now: datetime) -> int | None:
    """Open, update, or (for a cleared condition) resolve the alert; return its id or None."""
    with conn.transaction():
        if finding.clear:
            return _auto_resolve(conn, finding, now)
        subject = _subject(conn, finding.device_id)
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
            # The latest press's own fix is where the person is now (not an earlier press's).
            moved = is_event and finding.lat is not None and observed >= last_seen
            if moved:
                conn.execute(
                    "UPDATE alerts SET lat = %s, lon = %s, acc_m = %s WHERE alert_id = %s",
                    (finding.lat, finding.lon, finding.acc_m, alert_id),
                )
            record(
                conn,
                alert_id=alert_id,
                at=now,
                actor="engine",
                kind="repeated",
                # Coordinates stay off the timeline: reading a position is audited, this is not.
                data={
                    "observed_at": observed.isoformat(),
                    "event_id": finding.source_event_id,
                    "position_updated": moved,
                },
            )
        if is_event and finding.rule in REPAGE_ON_REPEAT:
            # Another press while the alert is open, even acknowledged: whoever is on it hears
            # about it now (120 is not called twice for one open emergency).
            event_id = finding.source_event_id
            targets = REPAGE_ON_REPEAT[finding.rule]
            _page(conn, alert_id, targets, f"event-{event_id}", now, "engine", event_id=event_id)
        if finding.severity > severity:
            _raise_severity(conn, alert_id, finding.severity, priority, now)
        return alert_id
    if finding.source_event_id is None:
        # An observation already covered by a resolved alert (or older than a person's
        # resolution) does not open a new one, unless it is more severe than what was resolved;
        # a fresh one after an automatic resolution does.
        # A device-state alert is the band's: its resolution holds across a change of wearer.
        stale = conn.execute(
            """SELECT 1 FROM alerts WHERE rule = %s AND status = 'resolved'
               AND (subject_key = %s OR (%s AND device_id = %s))
               AND (last_seen_at >= %s OR (resolved_by <> 'engine' AND resolved_at >= %s))
               AND severity >= %s LIMIT 1""",
            (
                finding.rule,
                subject["subject_key"],
                finding.rule in AUTO_RESOLVE_RULES,
                finding.device_id,
                observed,
                observed,
                finding.severity,
            ),
        ).fetchone()
        if stale:
            return None
    return _open(
        conn,
        subject_key=subject["subject_key"],
        resident_id=subject["resident_id"],
        device_id=finding.device_id,
        rule=finding.rule,
        severity=finding.severity,
        priority=priority,
        title=finding.title or finding.rule,
        details=finding.details,
        observed=observed,
        position=(finding.lat, finding.lon, finding.acc_m),
        now=now,
        actor="engine",
        timeline={
            "severity": SEVERITY_NAMES[finding.severity],
            "priority": priority,
            "observed_at": observed.isoformat(),
        },
    )


def _open(
    conn: psycopg.Connection,
    *,
    subject_key: str,
    rule: str,
    severity: int,
    priority: int,
    title: str,
    details: dict,
    observed: datetime,
    now: datetime,
    actor: str,
    timeline: dict,
    resident_id: int | None = None,
    device_id: str | None = None,
    position: tuple[float | None, float | None, float | None] = (None, None, None),
) -> int:
    """Insert a new alert with its rule's ladder copied onto it, record it, run its first steps."""
    policy_id, steps = escalation.policy_for(conn, rule=rule)
    lat, lon, acc_m = position
    (alert_id,) = returned_row(
        conn.execute(
            """INSERT INTO alerts (subject_key, resident_id, device_id, rule, severity,
                   priority, title, details, first_seen_at, last_seen_at, opened_at, lat, lon,
                   acc_m, policy_id, policy_steps, esc_step, esc_due_at, updated_at)
               VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,0,%s,%s)
               RETURNING alert_id""",
            (
                subject_key,
                resident_id,
                device_id,
                rule,
                severity,
                priority,
                title,
                Jsonb(details),
                observed,
                observed,
                now,
                lat,
                lon,
                acc_m,
                policy_id,
                Jsonb(steps),
                now,
                now,
            ),
        )
    )
    record(conn, alert_id=alert_id, at=now, actor=actor, kind="opened", data=timeline)
    escalation.advance(conn, alert_id=alert_id, now=now)
    return alert_id


def _raise_severity(conn, alert_id: int, severity: int, priority: int, now: datetime) -> None:
    """Raise the alert's severity and page its ladder's first targets again.

    An acknowledged alert returns to open and its ladder climbs again from now: whoever
    acknowledged the lesser condition may not be on this one.
    """
    old, status, steps, repeats = returned_row(
        conn.execute(
            "SELECT severity, status, policy_steps, esc_repeats FROM alerts WHERE alert_id = %s",
            (alert_id,),
        )
    )
    conn.execute(
        """UPDATE alerts SET severity = %s, priority = least(priority, %s), updated_at = %s
           WHERE alert_id = %s""",
        (severity, priority, now, alert_id),
    )
    reopened = status == "acknowledged"
    record(
        conn,
        alert_id=alert_id,
        at=now,
        actor="engine",
        kind="severity_raised",
        data={"from": SEVERITY_NAMES[old], "to": SEVERITY_NAMES[severity], "reopened": reopened},
    )
    if reopened:
        escalation.restart(conn, alert_id=alert_id, steps=steps, repeats=repeats, now=now)
    # 120 was called when the alert opened, if its ladder calls 120 at all.
    targets = [t for t in escalation.first_notify(steps)[1] if t != "gateway_120"]
    name = SEVERITY_NAMES[severity]
    _page(conn, alert_id, targets, f"severity-{severity}", now, "engine", severity=name)


def _page(conn, alert_id: int, targets, key_base: str, now: datetime, actor: str, **data) -> None:
    """Page outside the ladder (keys alert-<id>-<key_base>-<target>) and put it on the timeline."""
    sent = enqueue_notifications(
        conn,
        alert_id=alert_id,
        targets=targets,
        step=-1,
        repetition=0,
        now=now,
        key_base=key_base,
    )
    record(
        conn,
        alert_id=alert_id,
        at=now,
        actor=actor,
        kind="queued",
        data={"step": None, "targets": sent, **data},
    )


def _auto_resolve(conn, finding: Finding, now: datetime) -> int | None:
    if finding.rule not in AUTO_RESOLVE_RULES:
        return None
    # By band, not subject: the band may have changed wearer since the alert opened.
    resolved = resolve_band_alerts(
        conn,
        device_id=finding.device_id,
        rules=frozenset({finding.rule}),
        actor="engine",
        resolution="condition cleared",
        now=now,
    )
    return resolved[-1] if resolved else None


def resolve_band_alerts(
    conn: psycopg.Connection,
    *,
    device_id: str,
    actor: str,
    resolution: str,
    now: datetime,
    rules: frozenset[str] = AUTO_RESOLVE_RULES,
) -> list[int]:
    """Resolve the band's open device-state alerts (offline, low battery, not worn); their ids.

    Alerts that people resolve (SOS, falls, vital signs, ...) are left alone.
    """
    with conn.transaction():
        rows = conn.execute(
            """SELECT alert_id FROM alerts WHERE device_id = %s AND rule = ANY(%s)
               AND status <> 'resolved' ORDER BY alert_id FOR UPDATE""",
            (device_id, sorted(rules)),
        ).fetchall()
        for (alert_id,) in rows:
            set_resolved(conn, alert_id, actor=actor, resolution=resolution, now=now)
    return [alert_id for (alert_id,) in rows]


def _subjects(details: dict) -> tuple[set, set]:
    """The alerts and requests a system alert is about."""
    return set(details.get("alert_ids", [])), set(details.get("request_ids", []))


def raise_system_alert(
    conn: psycopg.Connection,
    *,
    rule: str,
    title: str,
    details: dict,
    now: datetime,
    severity: int = HIGH,
    subject_key: str = "system",
    actor: str = "watchdog",
) -> int:
    """Open (or update) an alert about the system itself, e.g. an overdue escalation step,
    or about no one resident (`subject_key`, e.g. an early warning about a grid).

    A repeat is recorded on the timeline; it pages again when what it is about changed
    (`details["alert_ids"]`, `details["request_ids"]`).
    """
    with conn.transaction():
        row = conn.execute(
            """SELECT alert_id, details, policy_steps FROM alerts WHERE subject_key = %s
               AND rule = %s AND status <> 'resolved' FOR UPDATE""",
            (subject_key, rule),
        ).fetchone()
        if row is not None:
            alert_id, previous, steps = row
            (occurrences,) = returned_row(
                conn.execute(
                    """UPDATE alerts SET occurrences = occurrences + 1, last_seen_at = %s,
                       details = %s, updated_at = %s WHERE alert_id = %s RETURNING occurrences""",
                    (now, Jsonb(details), now, alert_id),
                )
            )
            record(conn, alert_id=alert_id, at=now, actor=actor, kind="repeated", data=details)
            if _subjects(previous) != _subjects(details):
                targets = escalation.first_notify(steps)[1]
                _page(conn, alert_id, targets, f"repeat-{occurrences}", now, actor)
            return alert_id
        return _open(
            conn,
            subject_key=subject_key,
            rule=rule,
            severity=severity,
            priority=2,
            title=title,
            details=details,
            observed=now,
            now=now,
            actor=actor,
            timeline=details,
        )
