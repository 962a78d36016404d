"""Escalation ladders: policy steps copied onto the alert, timers in the database.

A step runs inside the transaction that holds the alert's row lock and moves `esc_step` past
it, so a step either ran and is recorded or did not run: a restart neither loses nor repeats one.
Steps: {"action":"notify","targets":[...],"stop_on":"acknowledged"|"resolved"},
{"action":"wait","seconds":N}, {"action":"repeat","to_step":i,"times":k}.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from alerting.alerts import outbox
from alerting.alerts.changes import record

log = logging.getLogger(__name__)

DEFAULT_POLICY = "standard"


def policy_for(conn: psycopg.Connection, *, rule: str) -> tuple[str, list[dict]]:
    """The policy id and steps a new alert of `rule` climbs."""
    row = conn.execute(
        """SELECT p.policy_id, p.steps FROM escalation_policies p
           WHERE p.policy_id = coalesce(
               (SELECT policy_id FROM escalation_rule_policies WHERE rule = %s), %s)""",
        (rule, DEFAULT_POLICY),
    ).fetchone()
    if row is None:
        raise LookupError(f"no escalation policy for rule {rule!r}")
    return row[0], row[1]


def has_steps_after_ack(steps: list[dict], next_step: int) -> bool:
    """Whether anything after `next_step` still notifies once the alert is acknowledged."""
    return any(
        s.get("action") == "notify" and s.get("stop_on", "acknowledged") == "resolved"
        for s in steps[next_step:]
    )


def first_notify(steps: list[dict]) -> tuple[int, list[str]]:
    """Index and targets of the ladder's first notify step."""
    for i, spec in enumerate(steps):
        if spec.get("action") == "notify":
            return i, spec.get("targets", [])
    return len(steps), []


def restart(
    conn: psycopg.Connection, *, alert_id: int, steps: list[dict], repeats: dict, now: datetime
) -> None:
    """Open the alert again, its ladder climbing from just after its first notify step.

    The caller pages the first step's targets itself (with its own idempotency keys).
    """
    # Ladder pages are keyed step-<i>-rep-<n>: fresh repetition numbers keep them from
    # colliding with pages already sent; repeat steps count afresh.
    fresh = {
        str(i): int(repeats.get(str(i), 0)) + 1 if spec.get("action") == "notify" else 0
        for i, spec in enumerate(steps)
    }
    conn.execute(
        """UPDATE alerts SET status = 'open', acknowledged_at = NULL, acknowledged_by = NULL,
                  esc_step = %s, esc_due_at = %s, esc_repeats = %s WHERE alert_id = %s""",
        (first_notify(steps)[0] + 1, now, Jsonb(fresh), alert_id),
    )
    advance(conn, alert_id=alert_id, now=now)


def advance(conn: psycopg.Connection, *, alert_id: int, now: datetime) -> int:
    """Run every step of the alert that is due; the caller holds the row lock. Returns steps run."""
    row = conn.execute(
        """SELECT status, policy_steps, esc_step, esc_due_at, esc_repeats FROM alerts
           WHERE alert_id = %s FOR UPDATE""",
        (alert_id,),
    ).fetchone()
    if row is None:
        raise LookupError(f"alert {alert_id} vanished while escalating")
    status, steps, step, due, repeats = row
    ran = 0
    while due is not None and due <= now and status != "resolved":
        if step >= len(steps):
            due = None
            break
        spec = steps[step]
        action = spec.get("action")
        if action == "notify":
            stop_on = spec.get("stop_on", "acknowledged")
            if stop_on == "acknowledged" and status == "acknowledged":
                _timeline(conn, alert_id, due, "step_skipped", {"step": step, "why": status})
            else:
                rep = int(repeats.get(str(step), 0))
                sent = outbox.enqueue_notifications(
                    conn,
                    alert_id=alert_id,
                    targets=spec.get("targets", []),
                    step=step,
                    repetition=rep,
                    now=now,
                )
                _timeline(
                    conn,
                    alert_id,
                    now,
                    "queued",
                    {"step": step, "targets": sent, "due_at": due.isoformat()},
                )
            step += 1
        elif action == "wait":
            due = due + timedelta(seconds=float(spec.get("seconds", 0)))
            step += 1
        elif action == "repeat":
            done = int(repeats.get(str(step), 0))
            if done < int(spec.get("times", 1)):
                repeats[str(step)] = done + 1
                # Each repetition of a notify step gets its own idempotency key.
                for later in range(int(spec.get("to_step", 0)), step):
                    repeats[str(later)] = int(repeats.get(str(later), 0)) + 1
                step = int(spec.get("to_step", 0))
            else:
                step += 1
        else:
            log.error("alert %s: unknown escalation action %r skipped", alert_id, action)
            step += 1
        ran += 1
    if step >= len(steps) or status == "resolved":
        due = None
    conn.execute(
        "UPDATE alerts SET esc_step = %s, esc_due_at = %s, esc_repeats = %s WHERE alert_id = %s",
        (step, due, Jsonb(repeats), alert_id),
    )
    return ran


def _timeline(conn, alert_id, at, kind, data) -> None:
    record(conn, alert_id=alert_id, at=at, actor="escalation", kind=kind, data=data)


def run_due(conn: psycopg.Connection, *, now: datetime, limit: int = 200) -> int:
    """Advance every alert whose next step is due; safe to run from several processes.

    Each alert advances in its own savepoint: one whose ladder cannot advance is logged and
    left due (the watchdog reports it) while the others climb on.
    """
    total = 0
    stuck: list[int] = []
    while True:
        with conn.transaction():
            ids = [
                r[0]
                for r in conn.execute(
                    """SELECT alert_id FROM alerts WHERE esc_due_at <= %s
                       AND alert_id <> ALL(%s)
                       ORDER BY esc_due_at LIMIT %s FOR UPDATE SKIP LOCKED""",
                    (now, stuck, limit),
                )
            ]
            for alert_id in ids:
                try:
                    with conn.transaction():
                        total += advance(conn, alert_id=alert_id, now=now)
                except Exception:
                    log.exception("escalation of alert %s failed; it stays due", alert_id)
                    stuck.append(alert_id)
        if len(ids) < limit:
            return total


def overdue(conn: psycopg.Connection, *, now: datetime, grace_s: float) -> list[int]:
    """Alerts whose next escalation step should have run more than grace_s ago."""
    rows = conn.execute(
        """SELECT alert_id FROM alerts WHERE esc_due_at < %s AND status <> 'resolved'
           ORDER BY esc_due_at LIMIT 100""",
        (now - timedelta(seconds=grace_s),),
    ).fetchall()
    return [r[0] for r in rows]


def check_overdue(conn: psycopg.Connection, *, now: datetime, grace_s: float) -> int | None:
    """Watchdog: raise an alert of its own when escalation steps are overdue."""
    late = overdue(conn, now=now, grace_s=grace_s)
    if not late:
        return None
    from alerting.alerts.raising import raise_system_alert  # raising imports us

    log.error("escalation steps overdue for %s alerts", len(late))
    return raise_system_alert(
        conn,
        rule="escalation_overdue",
        title="Escalation steps are overdue",
        details={"alert_ids": late, "grace_s": grace_s},
        now=now,
    )
