"""A family member's view of their elder's SOS and fall alerts: open ones and what staff did."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from alerting.alerts import service as alerts
from api.alerts import service as console
from api.db import DbConn

URGENT_RULES = ("sos", "fall")
# What staff did, as a family member may read it; notes stay among staff.
SHOWN_KINDS = frozenset({"acknowledged", "assigned", "resolved", "notified", "queued"})
SHOWN_DATA = {
    "assigned": ("assignee",),
    "resolved": ("resolution",),
    "notified": ("targets",),
    "queued": ("targets",),
}
MAX_ALERTS = 20


async def urgent_alerts(*, conn: DbConn, pool: ConnectionPool, resident_id: int) -> list[dict]:
    """Unresolved SOS and fall alerts of one resident, newest first, with staff actions.

    The caller has checked reach and written the audit row.
    """
    cur = await conn.execute(
        """SELECT alert_id, rule, status::text AS status, opened_at FROM alerts
           WHERE resident_id = %s AND rule = ANY(%s) AND status <> 'resolved'
           ORDER BY opened_at DESC LIMIT %s""",
        (resident_id, list(URGENT_RULES), MAX_ALERTS),
    )
    found = await cur.fetchall()
    for alert in found:
        events = await console.run_action(pool, alerts.timeline, alert_id=alert["alert_id"])
        shown = [e for e in events if e["kind"] in SHOWN_KINDS]
        names = await console.actor_names(conn=conn, actors={e["actor"] for e in shown})
        alert["actions"] = [
            {
                "at": e["at"],
                "kind": e["kind"],
                "actor_name": names.get(e["actor"]),
                "data": {k: e["data"][k] for k in SHOWN_DATA.get(e["kind"], ()) if k in e["data"]},
            }
            for e in shown
        ]
    return found
