"""Reads of a resident's position and vitals: access check, audit row, then the data."""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from api.access import SCOPE_SQL, scope_params
from api.db import DbConn
from api.errors import NotFound, Unauthorized
from eldercare import keys
from eldercare.datum import Datum, to_datum

# One round trip: who the caller is (from the database, so a disabled account or a withdrawn
# consent counts at once), whether they reach the resident, the resident's band, and the
# audit row, written only when access is granted. The default purpose is the role's duty.
_REACH_AND_AUDIT = f"""
WITH caller AS (
    SELECT role FROM accounts WHERE account_id = %(scope_account)s AND NOT disabled
), target AS (
    SELECT r.resident_id, d.device_id, d.bound_at
    FROM residents r
    LEFT JOIN LATERAL (
        SELECT device_id, bound_at FROM devices
        WHERE resident_id = r.resident_id AND state = 'active'
        ORDER BY registered_at DESC LIMIT 1) d ON true
    WHERE r.resident_id = %(rid)s AND {SCOPE_SQL}
), logged AS (
    INSERT INTO audit_log (account_id, role, resident_id, action, purpose)
    SELECT %(scope_account)s, c.role, t.resident_id, %(action)s,
           coalesce(%(purpose)s, CASE c.role WHEN 'family' THEN 'family_care'
                                 ELSE c.role || '_duty' END)
    FROM target t, caller c
)
SELECT c.role, t.resident_id, t.device_id, t.bound_at
FROM caller c LEFT JOIN target t ON true"""


async def reach_and_audit(
    *,
    conn: DbConn,
    account_id: int,
    resident_id: int,
    action: str,
    purpose: str | None,
) -> dict:
    """The resident's active band (device_id and bound_at, or None), after the audit row.

    Unauthorized if the account is gone or disabled; NotFound if the resident is out of reach.
    """
    params = {**scope_params(account_id), "rid": resident_id, "action": action, "purpose": purpose}
    row = await (await conn.execute(_REACH_AND_AUDIT, params)).fetchone()
    if row is None:
        raise Unauthorized("invalid or expired token")
    if row["resident_id"] is None:
        raise NotFound("resident not found", resident_id=resident_id)
    return {"device_id": row["device_id"], "bound_at": row["bound_at"]}


def _ms(value: bytes | None) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None


def _num(value: bytes | None, kind: type = int) -> int | float | None:
    return kind(value) if value not in (None, b"") else None


LOCATION_FIELDS = keys.BAND_LOCATION_FIELDS
VITALS_FIELDS = keys.BAND_VITALS_FIELDS


async def band_state(
    *, redis: Redis, prefix: str, device_id: str | None, fields: tuple[bytes, ...]
) -> dict[bytes, bytes]:
    """The given fields of the latest state ingest keeps for a band (absent ones left out).

    HMGET of the fields a route needs, not HGETALL: parsing replies is a visible share of a
    look-up's cost.
    """
    if device_id is None:
        return {}
    values = await redis.hmget(keys.band_state(prefix, device_id), list(fields))
    return {f: v for f, v in zip(fields, values, strict=True) if isinstance(v, bytes)}


def latest_location(
    *,
    resident_id: int,
    band: dict,
    state: dict[bytes, bytes],
    datum: Datum,
    now: datetime,
) -> dict:
    """Shape the band's latest state as a position in the requested datum."""
    fix = None
    fix_t = _ms(state.get(b"fix_t"))
    bound_at = band["bound_at"]
    if bound_at is not None and fix_t is not None and fix_t < bound_at:
        fix_t = None  # taken while someone else wore the band
    if fix_t is not None and b"lat" in state and b"lon" in state:
        lat, lon = to_datum(float(state[b"lat"]), float(state[b"lon"]), datum)
        fix = {
            "t": fix_t,
            "lat": lat,
            "lon": lon,
            "acc_m": _num(state.get(b"acc_m"), float),
            "src": state.get(b"src", b"").decode(),
            "age_s": max(0.0, (now - fix_t).total_seconds()),
        }
    online = state.get(b"online")
    return {
        "resident_id": resident_id,
        "device_id": band["device_id"],
        "datum": datum,
        "fix": fix,
        "online": None if online is None else online == b"1",
        "battery": _num(state.get(b"battery")),
        "last_seen": _ms(state.get(b"last_seen")),
    }


def latest_vitals(*, resident_id: int, band: dict, state: dict[bytes, bytes]) -> dict:
    """Shape the band's latest vitals (none taken before the band was bound to the resident)."""
    t = _ms(state.get(b"vitals_t"))
    if band["bound_at"] is not None and t is not None and t < band["bound_at"]:
        state = {}
    worn = state.get(b"worn")
    return {
        "resident_id": resident_id,
        "device_id": band["device_id"],
        "t": _ms(state.get(b"vitals_t")),
        "hr": _num(state.get(b"hr")),
        "sbp": _num(state.get(b"sbp")),
        "dbp": _num(state.get(b"dbp")),
        "steps": _num(state.get(b"steps")),
        "worn": None if worn is None else worn == b"1",
    }


async def history(
    *,
    conn: DbConn,
    resident_id: int,
    start: datetime,
    end: datetime,
    datum: Datum,
    limit: int,
    offset: int,
) -> list[dict]:
    """Fixes of every band the resident wore over [start, end), oldest first."""
    cur = await conn.execute(
        """SELECT f.t, f.lat, f.lon, f.acc_m, f.src::text AS src
           FROM location_fixes f JOIN devices d USING (device_id)
           WHERE d.resident_id = %s AND f.t >= %s AND f.t < %s
             AND f.t >= coalesce(d.bound_at, '-infinity')
           ORDER BY f.t LIMIT %s OFFSET %s""",
        (resident_id, start, end, limit, offset),
    )
    rows = await cur.fetchall()
    for row in rows:
        row["lat"], row["lon"] = to_datum(row["lat"], row["lon"], datum)
    return rows
