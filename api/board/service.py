"""The duty board: every resident in reach, their band's state and last position, audited.

The positions are a resident's location: one audit row per resident listed is written in
the statement that checks reach, before any position is read.
"""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis

from api.access import SCOPE_SQL, scope_params
from api.db import DbConn
from api.location import service as location
from eldercare import keys
from eldercare.datum import Datum

_BOARD = f"""
WITH seen AS (
    SELECT r.resident_id, r.full_name, r.grid_id, r.living_alone, r.disabled, r.low_income,
           r.timezone, d.device_id, d.bound_at
    FROM residents r
    LEFT JOIN LATERAL (
        SELECT device_id, bound_at FROM devices
        WHERE resident_id = r.resident_id AND state = 'active'
        ORDER BY registered_at DESC LIMIT 1) d ON true
    WHERE {SCOPE_SQL} AND (%(grid_id)s::bigint IS NULL OR r.grid_id = %(grid_id)s)
    ORDER BY r.resident_id LIMIT %(limit)s OFFSET %(offset)s
), logged AS (
    INSERT INTO audit_log (account_id, role, resident_id, action, purpose)
    SELECT a.account_id, a.role, s.resident_id, 'board.positions',
           coalesce(%(purpose)s, a.role || '_duty')
    FROM seen s JOIN accounts a ON a.account_id = %(scope_account)s
)
SELECT * FROM seen ORDER BY resident_id"""
FIELDS = location.LOCATION_FIELDS + (b"vitals_t", b"worn")


async def residents(
    *,
    conn: DbConn,
    redis: Redis,
    prefix: str,
    account_id: int,
    grid_id: int | None,
    datum: Datum,
    purpose: str | None,
    now: datetime,
    limit: int,
    offset: int,
) -> list[dict]:
    """Residents in reach (by id) with band state and last position in `datum`."""
    params = {
        **scope_params(account_id),
        "grid_id": grid_id,
        "purpose": purpose,
        "limit": limit,
        "offset": offset,
    }
    rows = await (await conn.execute(_BOARD, params)).fetchall()
    async with redis.pipeline(transaction=False) as pipe:
        for row in rows:
            if row["device_id"] is not None:
                pipe.hmget(keys.band_state(prefix, row["device_id"]), list(FIELDS))
        replies = iter(await pipe.execute())
    board = []
    for row in rows:
        values = next(replies) if row["device_id"] is not None else [None] * len(FIELDS)
        state = {f: v for f, v in zip(FIELDS, values, strict=True) if isinstance(v, bytes)}
        band = {"device_id": row["device_id"], "bound_at": row["bound_at"]}
        vitals = location.latest_vitals(resident_id=row["resident_id"], band=band, state=state)
        board.append(
            {
                **row,
                "worn": vitals["worn"],
                "location": location.latest_location(
                    resident_id=row["resident_id"], band=band, state=state, datum=datum, now=now
                ),
            }
        )
    return board
