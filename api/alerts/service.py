"""Alerts as the console sees them: reads scoped to the caller, actions through alerting.

Reads are alerting's one alert query (`alerts_query`) with the caller's scope added to the
same statement. Every change goes through the alerting package's public functions, which own
the alert's writes, its timeline and its outbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from redis.asyncio import Redis

from alerting.alerts import service as alerts
from api.access import ALERT_SCOPE_SQL, scope_params
from api.db import DbConn, run_sync
from api.deps import Principal
from api.errors import Conflict, NotFound
from api.location import service as location
from eldercare.datum import Datum, to_datum


def actor_of(principal: Principal) -> str:
    """How an account is named on an alert's timeline."""
    return f"account:{principal.account_id}"


async def actor_names(*, conn: DbConn, actors: set[str]) -> dict[str, str]:
    """Display names of the accounts among timeline actors (`account:N` -> full name)."""
    ids = [int(a.split(":", 1)[1]) for a in actors if a.startswith("account:") and a[8:].isdigit()]
    cur = await conn.execute(
        """SELECT account_id, coalesce(nullif(full_name, ''), username) AS name
           FROM accounts WHERE account_id = ANY(%s)""",
        (ids,),
    )
    return {f"account:{row['account_id']}": row["name"] for row in await cur.fetchall()}


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
    """The alerts the caller may see, filtered and ordered (`order` is a key of alerts.ORDERS)."""
    sql, params = alerts.alerts_query(
        view="summary",
        scope_sql=ALERT_SCOPE_SQL,
        status=status,
        priority=priority,
        min_severity=min_severity,
        grid_id=grid_id,
        resident_id=resident_id,
        rule=rule,
        order=order,
        limit=limit,
        offset=offset,
    )
    cur = await conn.execute(sql, {**params, **scope_params(principal)})
    return await cur.fetchall()


async def visible_summaries(
    *, conn: DbConn, account_id: int, alert_ids: list[int]
) -> dict[int, dict]:
    """Summaries of those of `alert_ids` the account may see, by alert id."""
    sql, params = alerts.alerts_query(
        view="summary", scope_sql=ALERT_SCOPE_SQL, alert_ids=alert_ids, limit=len(alert_ids)
    )
    cur = await conn.execute(sql, {**params, **scope_params(account_id)})
    return {row["alert_id"]: row for row in await cur.fetchall()}


async def get_visible_or_raise(*, conn: DbConn, principal: Principal, alert_id: int) -> dict:
    """One alert the caller may see, with details and position; NotFound otherwise.

    An alert outside the caller's reach is answered exactly like one that does not exist.
    """
    sql, params = alerts.alerts_query(
        view="detail", scope_sql=ALERT_SCOPE_SQL, alert_ids=[alert_id], limit=1
    )
    cur = await conn.execute(sql, {**params, **scope_params(principal)})
    row = await cur.fetchone()
    if row is None:
        raise NotFound("alert not found", alert_id=alert_id)
    return row


async def _resident_card(*, conn: DbConn, resident_id: int) -> dict | None:
    cur = await conn.execute(
        """SELECT r.resident_id, r.full_name, r.birth_date, r.sex, r.address, r.phone,
                  r.grid_id, r.living_alone, r.disabled, r.low_income, r.timezone,
                  r.medical_notes,
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
    datum: Datum = "wgs84",
) -> dict:
    """One alert with its resident and positions; the read is audited like a location read.

    Positions come in `datum` (GCJ-02 for a map whose tiles are drawn in it).

    The alert's own position and the resident's last one are a resident's location: the
    audit row is written (in the statement that checks reach) before either is returned.
    """
    alert = await get_visible_or_raise(conn=conn, principal=principal, alert_id=alert_id)
    position = None
    if alert["lat"] is not None and alert["lon"] is not None:
        lat, lon = to_datum(alert["lat"], alert["lon"], datum)
        position = {"lat": lat, "lon": lon, "acc_m": alert["acc_m"]}
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
            resident_id=alert["resident_id"], band=band, state=state, datum=datum, now=now
        )
    return {**alert, "position": position, "resident": resident, "last_location": last_location}


# Opens (or updates) an alert about no one resident, e.g. an early warning; returns its id.
# Takes alerting's `raise_system_alert` keyword arguments, without the connection.
RaiseSystemAlert = Callable[..., Awaitable[int]]


def system_alerts_in_pool(pool: ConnectionPool) -> RaiseSystemAlert:
    """`raise_system_alert` for a request handler: on the pool, in a worker thread."""

    async def raise_alert(**kwargs: Any) -> int:
        return await run_action(pool, alerts.raise_system_alert, **kwargs)

    return raise_alert


def system_alerts_on(conn: psycopg.Connection) -> RaiseSystemAlert:
    """`raise_system_alert` for a background job: on its own connection, in its thread."""

    async def raise_alert(**kwargs: Any) -> int:
        return alerts.raise_system_alert(conn, **kwargs)

    return raise_alert


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
