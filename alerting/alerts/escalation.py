"""Escalation ladders: policy steps copied onto the alert, timers in the database.

A step runs inside the transaction that holds the alert's row lock and moves `esc_step` past
it, so a step either ran and is recorded or did not run: a restart neither loses nor repeats one.
Steps: {"action":"notify","targets":[...],"stop_on":"acknowledged"|"resolved"},
{"action":"wait","seconds":N}, {"action":"repeat","to_step":i,"times":k}.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from alerting.alerts import outbox
from alerting.alerts.changes import record

log = logging.getLogger(__name__)

DEFAULT_POLICY = "standard"


@dataclass(frozen=True)
class Ladder:
    """What climbs ladders: a table with the escalation columns, its timeline and its pages.

    The table has `status` ('open', 'acknowledged', 'resolved'), `policy_steps`, `esc_step`,
    `esc_due_at` and `esc_repeats`. `notify(conn, object_id=, targets=, step=, repetition=,
    now=)` queues a step's pages and returns the targets queued and what else the timeline
    entry should say (e.g. the people responsible); `record(conn, object_id=, at=, kind=,
    data=)` adds a timeline entry written by the escalation.
    """

    kind: str
    table: str
    id_column: str
    notify: Callable[..., tuple[list[str], dict]]
    record: Callable[..., object]


def _notify_alert(conn, *, object_id: int, **step) -> tuple[list[str], dict]:
    return outbox.enqueue_notifications(conn, alert_id=object_id, **step), {}


def _record_alert(conn, *, object_id: int, at: datetime, kind: str, data: dict) -> None:
    record(conn, alert_id=object_id, at=at, actor="escalation", kind=kind, data=data)


ALERTS = Ladder("alert", "alerts", "alert_id", _notify_alert, _record_alert)


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


def fresh_repeats(steps: list[dict], repeats: dict) -> dict:
    """Repetition counters for a ladder climbing again from part-way up.

    Ladder pages are keyed step-<i>-rep-<n>: fresh repetition numbers keep them from
    colliding with pages already sent; repeat steps count afresh.
    """
    return {
        str(i): int(repeats.get(str(i), 0)) + 1 if spec.get("action") == "notify" else 0
        for i, spec in enumerate(steps)
    }


def restart(
    conn: psycopg.Connection, *, alert_id: int, steps: list[dict], repeats: dict, now: datetime
) -> None:
    """Open the alert again, its ladder climbing from just after its first notify step.

    The caller pages the first step's targets itself (with its own idempotency keys).
    """
    fresh = fresh_repeats(steps, repeats)
    conn.execute(
        """UPDATE alerts SET status = 'open', acknowledged_at = NULL, acknowledged_by = NULL,
                  esc_step = %s, esc_due_at = %s, esc_repeats = %s WHERE alert_id = %s""",
        (first_notify(steps)[0] + 1, now, Jsonb(fresh), alert_id),
    )
    advance(conn, alert_id=alert_id, now=now)


def advance(conn: psycopg.Connection, *, alert_id: int, now: datetime) -> int:
    """Run every step of the alert that is due; the caller holds the row lock. Returns steps run."""
    return advance_ladder(conn, ALERTS, object_id=alert_id, now=now)


def advance_ladder(
    conn: psycopg.Connection, ladder: Ladder, *, object_id: int, now: datetime
) -> int:
    """Run every due step of one object of `ladder`; the caller holds the row lock."""
    alert_id = object_id
    row = conn.execute(
        sql.SQL(
            """SELECT status::text, policy_steps, esc_step, esc_due_at, esc_repeats FROM {t}
               WHERE {id} = %s FOR UPDATE"""
        ).format(t=sql.Identifier(ladder.table), id=sql.Identifier(ladder.id_column)),
        (alert_id,),
    ).fetchone()
    if row is None:
        raise LookupError(f"{ladder.kind} {alert_id} vanished while escalating")
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
                ladder.record(
                    conn,
                    object_id=alert_id,
                    at=due,
                    kind="step_skipped",
                    data={"step": step, "why": status},
                )
            else:
                rep = int(repeats.get(str(step), 0))
                sent, said = ladder.notify(
                    conn,
                    object_id=alert_id,
                    targets=spec.get("targets", []),
                    step=step,
                    repetition=rep,
                    now=now,
                )
                ladder.record(
                    conn,
                    object_id=alert_id,
                    at=now,
                    kind="queued",
                    data={"step": step, "targets": sent, "due_at": due.isoformat(), **said},
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
            log.error("%s %s: unknown escalation action %r skipped", ladder.kind, alert_id, action)
            step += 1
        ran += 1
    if step >= len(steps) or status == "resolved":
        due = None
    conn.execute(
        sql.SQL(
            "UPDATE {t} SET esc_step = %s, esc_due_at = %s, esc_repeats = %s WHERE {id} = %s"
        ).format(t=sql.Identifier(ladder.table), id=sql.Identifier(ladder.id_column)),
        (step, due, Jsonb(repeats), alert_id),
    )
    return ran


def run_due(
    conn: psycopg.Connection, *, now: datetime, limit: int = 200, ladder: Ladder = ALERTS
) -> int:
    """Advance every alert (or other `ladder` object) whose next step is due; safe to run
    from several processes.

    Each one advances in its own savepoint: one whose ladder cannot advance is logged and
    left due (the watchdog reports it) while the others climb on.
    """
    total = 0
    stuck: list[int] = []
    due_sql = sql.SQL(
        """SELECT {id} FROM {t} WHERE esc_due_at <= %s AND {id} <> ALL(%s)
           ORDER BY esc_due_at LIMIT %s FOR UPDATE SKIP LOCKED"""
    ).format(t=sql.Identifier(ladder.table), id=sql.Identifier(ladder.id_column))
    while True:
        with conn.transaction():
            ids = [r[0] for r in conn.execute(due_sql, (now, stuck, limit))]
            for object_id in ids:
                try:
                    with conn.transaction():
                        total += advance_ladder(conn, ladder, object_id=object_id, now=now)
                except Exception:
                    log.exception(
                        "escalation of %s %s failed; it stays due", ladder.kind, object_id
                    )
                    stuck.append(object_id)
        if len(ids) < limit:
            return total
