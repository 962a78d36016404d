"""Never silent: an SOS/fall notice not delivered in time raises a critical alert on the console.

A notice of an SOS or fall (outbox priority 0) whose recipient's channel chain has delivered
nothing `deadline_s` after it was queued is "unreached". Each unreached notice is marked
(`outbox.unreached_at`) and the open `emergency_unreached` system alert is raised or repeated
with everything a person needs to make the call themselves: the resident's address, position,
medical notes and contacts. Its ladder pages the duty console and the director on every channel.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg

from alerting.alerts.outbox import dispatch_120_payload, load_alert
from alerting.alerts.raising import raise_system_alert
from alerting.rules.common import CRITICAL
from eldercare.i18n import text

log = logging.getLogger(__name__)

RULE = "emergency_unreached"
# Channels inside this system: if they fail, the console cannot show anything anyway.
INTERNAL_CHANNELS = ["console", "changes"]


# An SOS/fall notice (priority 0) of an open alert, queued before the cutoff, that no link of
# its chain delivered. Parameters: cutoff, internal channels.
LATE = """o.priority = 0 AND o.status IN ('pending', 'sent', 'failed') AND o.created_at <= %s
          AND o.channel <> ALL(%s) AND a.status <> 'resolved'
          AND NOT EXISTS (SELECT 1 FROM outbox d WHERE d.chain_key = o.chain_key
                          AND d.status = 'delivered')"""


def check(conn: psycopg.Connection, *, now: datetime, deadline_s: float) -> int | None:
    """Raise the unreached alert for notices past their deadline; its id, or None if none.

    Notices are read without locks: one whose send hangs (the dispatcher holds its row) is
    reported on time all the same; marks are written where no send holds the row, and the rest
    on a later pass.
    """
    cutoff = now - timedelta(seconds=deadline_s)
    late = conn.execute(
        f"""SELECT o.outbox_id, o.alert_id, coalesce(o.target, o.payload->>'target'),
                   o.last_error
            FROM outbox o JOIN alerts a USING (alert_id)
            WHERE o.unreached_at IS NULL AND {LATE} ORDER BY o.outbox_id""",
        (cutoff, INTERNAL_CHANNELS),
    ).fetchall()
    if not late:
        return None
    with conn.transaction():
        conn.execute(
            """UPDATE outbox SET unreached_at = %s WHERE outbox_id IN (
                   SELECT outbox_id FROM outbox WHERE outbox_id = ANY(%s)
                   FOR UPDATE SKIP LOCKED)""",
            (now, [r[0] for r in late]),
        )
        reported = conn.execute(
            """SELECT details->'alert_ids' FROM alerts WHERE subject_key = 'system'
               AND rule = %s AND status <> 'resolved'""",
            (RULE,),
        ).fetchone()
        if {r[1] for r in late} <= set(reported[0] if reported else []):
            return None  # on the open alert already (its send is still holding the row)
        for outbox_id, alert_id, target, error in late:
            log.error(
                "notice %s of emergency alert %s to %s not delivered in %ss: %s",
                outbox_id,
                alert_id,
                target,
                deadline_s,
                error or "no answer yet",
            )
        emergencies = _still_unreached(conn, now, cutoff)
        targets = sorted({t for e in emergencies for t in e["targets"]})
        if "gateway_120" in targets:
            title = text("notice.unreached.title_120")
        else:
            names = text("notice.separator").join(text(f"target.{t}") for t in targets)
            title = text("notice.unreached.title", targets=names)
        return raise_system_alert(
            conn,
            rule=RULE,
            title=title,
            details={"alert_ids": [e["alert_id"] for e in emergencies], "emergencies": emergencies},
            now=now,
            severity=CRITICAL,
        )


def _still_unreached(conn: psycopg.Connection, now: datetime, cutoff: datetime) -> list[dict]:
    """Every open emergency with a notice past its deadline that its chain has not delivered."""
    rows = conn.execute(
        f"""SELECT o.alert_id, array_agg(DISTINCT coalesce(o.target, o.payload->>'target')),
                   array_agg(DISTINCT o.last_error) FILTER (WHERE o.last_error IS NOT NULL)
            FROM outbox o JOIN alerts a USING (alert_id)
            WHERE {LATE} GROUP BY o.alert_id ORDER BY o.alert_id""",
        (cutoff, INTERNAL_CHANNELS),
    ).fetchall()
    # During an outage every check adds a few: the ones already described are reused.
    previous = conn.execute(
        """SELECT details FROM alerts WHERE subject_key = 'system' AND rule = %s
           AND status <> 'resolved'""",
        (RULE,),
    ).fetchone()
    known = {e["alert_id"]: e for e in (previous[0].get("emergencies", []) if previous else [])}
    emergencies = []
    for alert_id, targets, errors in rows:
        described = known.get(alert_id)
        if described is None:
            case = dispatch_120_payload(conn, load_alert(conn, alert_id), now)
            described = {
                "alert_id": alert_id,
                "device_id": case["device_id"],
                "kind": case["kind"],
                "resident": case["resident"],
                "location": case["location"],
                "emergency_contacts": case["emergency_contacts"],
            }
        emergencies.append(
            {**described, "targets": sorted(targets), "reasons": sorted(errors or [])}
        )
    return emergencies
