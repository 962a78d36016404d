"""Alerts as the console sees them: reads scoped to the caller, actions through alerting.

Reads are SQL over `alerts` with the caller's scope in the same statement (the alerting
package's `list_alerts` knows nothing of who asks). Every change goes through the alerting
package's public functions, which own the alert's writes, its timeline and its outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool
from redis.asyncio import Redis

from alerting.alerts import service as alerts
from api.access import ALERT_SCOPE_SQL, scope_params
from api.db import DbConn, run_sync
from api.deps import Principal
from api.errors import Conflict, NotFound
from api.location import service as location

SUMMARY_COLUMNS = """a.alert_id, a.rule, a.title, a.severity, a.priority,
    a.status::text AS status, a.resident_id, r.full_name AS resident_name, r.grid_id,
    a.device_id, a.occurrences, a.first_seen_at, a.last_seen_at, a.opened_at,
    a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.resolution,
    a.assignee, a.updated_at, (a.lat IS NOT NULL AND a.lon IS NOT NULL) AS has_position"""
FROM_ALERTS = "alerts a LEFT JOIN residents r ON r.resident_id = a.resident_id"
# Most urgent first; within a priority, the one waiting longest first.
ORDERS = {
    "newest": "a.alert_id DESC",
    "priority": "a.priority, a.severity DESC, a.opened_at, a.alert_id",
}


def actor_of(principal: Principal) -> str:
    """How an account is named on an alert's timeline."""
    return f"account:{principal.account_id}"


async def list_visible(
    *,
    conn: DbConn,
    principal: Principal,
    status: list[str] | None,
    priority: list[int] | None,
    min_severity: int | None,
    grid_id: int | None,
    resident_id: int | None,
    rule: str | None,
    order: str,
    limit: int,
    offset: int,
) -> list[dict]:
    """The alerts the caller may see, filtered and ordered (`order` is a key of ORDERS)."""
    cur = await conn.execute(
        f"""SELECT {SUMMARY_COLUMNS} FROM {FROM_ALERTS}
            WHERE {ALERT_SCOPE_SQL}
              AND (%(status)s::alert_status[] IS NULL OR a.status = ANY(%(status)s))
              AND (%(priority)s::int[] IS NULL OR a.priority = ANY(%(priority)s))
              AND (%(min_severity)s::int IS NULL OR a.severity >= %(min_severity)s)
              AND (%(grid_id)s::bigint IS NULL OR r.grid_id = %(grid_id)s)
              AND (%(resident_id)s::bigint IS NULL OR a.resident_id = %(resident_id)s)
              AND (%(rule)s::text IS NULL OR a.rule = %(rule)s)
            ORDER BY {ORDERS[order]} LIMIT %(limit)s OFFSET %(offset)s""",
        {
            **scope_params(principal),
            "status": status or None,
            "priority": priority or None,
            "min_severity": min_severity,
            "grid_id": grid_id,
            "resident_id": resident_id,
            "rule": rule,
            "limit": limit,
            "offset": offset,
        },
    )
    return await cur.fetchall()


async def visible_summaries(
    *, conn: DbConn, account_id: int, alert_ids: list[int]
) -> dict[int, dict]:
    """Summaries of those of `alert_ids` the account may see, by alert id."""
    cur = await conn.execute(
        f"""SELECT {SUMMARY_COLUMNS} FROM {FROM_ALERTS}
            WHERE a.alert_id = ANY(%(ids)s) AND {ALERT_SCOPE_SQL}""",
        {**scope_params(account_id), "ids": alert_ids},
    )
    return {row["alert_id"]: row for row in await cur.fetchall()}


async def get_visible_or_raise(*, conn: DbConn, principal: Principal, alert_id: int) -> dict:
    """One alert the caller may see, with details and position; NotFound otherwise.

    An alert outside the caller's reach is answered exactly like one that does not exist.
    """
    cur = await conn.execute(
        f"""SELECT {SUMMARY_COLUMNS}, a.details, a.lat, a.lon, a.acc_m FROM {FROM_ALERTS}
            WHERE a.alert_id = %(alert_id)s AND {ALERT_SCOPE_SQL}""",
        {**scope_params(principal), "alert_id": alert_id},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound("alert not found", alert_id=alert_id)
    return row


async def _resident_card(*, conn: DbConn, resident_id: int) -> dict | None:
    cur = await conn.execute(
        """SELECT r.resident_id, r.full_name, r.birth_date, r.sex, r.address, r.phone,
                  r.grid_id, r.living_alone, r.disabled, r.medical_notes,
                  coalesce((SELECT json_agg(json_build_object('name', c.name,
                                'relation', c.relation, 'phone', c.phone)
                                ORDER BY c.priority, c.contact_id)
                            FROM emergency_contacts c WHERE c.resident_id = r.resident_id),
                           '[]') AS contacts
           FROM residents r WHERE r.resident_id = %s""",
        (resident_id,),
    )
    return await cur.fetchone()


async def get_for_console(
    *,
    conn: DbConn,
    redis: Redis,
    prefix: str,
    principal: Principal,
    alert_id: int,
    purpose: str | None,
    now: datetime,
) -> dict:
    """One alert with its resident and positions; the read is audited like a location read.

    The alert's own position and the resident's last one are a resident's location: the
    audit row is written (in the statement that checks reach) before either is returned.
    """
    alert = await get_visible_or_raise(conn=conn, principal=principal, alert_id=alert_id)
    position = None
    if alert["lat"] is not None and alert["lon"] is not None:
        position = {"lat": alert["lat"], "lon": alert["lon"], "acc_m": alert["acc_m"]}
    resident, last_location = None, None
    if alert["resident_id"] is not None:
        band = await location.reach_and_audit(
            conn=conn,
            account_id=principal.account_id,
            resident_id=alert["resident_id"],
            action="alert.read",
            purpose=purpose,
        )
        resident = await _resident_card(conn=conn, resident_id=alert["resident_id"])
        state = await location.band_state(
            redis=redis, prefix=prefix, device_id=band["device_id"], fields=location.LOCATION_FIELDS
        )
        last_location = location.latest_location(
            resident_id=alert["resident_id"], band=band, state=state, datum="wgs84", now=now
        )
    return {**alert, "position": position, "resident": resident, "last_location": last_location}


async def run_action(pool: ConnectionPool, action: Callable[..., Any], **kwargs: Any) -> Any:
    """Run one of alerting's (synchronous) public functions in a worker thread.

    AlertNotFound becomes NotFound, InvalidTransition becomes Conflict.
    """

    try:
        return await run_sync(pool, action, **kwargs)
    except alerts.AlertNotFound as exc:
        raise NotFound("alert not found", alert_id=exc.alert_id) from None
    except alerts.InvalidTransition as exc:
        raise Conflict(
            f"alert is {exc.status}; cannot {exc.action}",
            alert_id=exc.alert_id,
            status=exc.status,
            action=exc.action,
        ) from None
