"""Bookings: catalog, providers, the booking lifecycle, and requests from bands."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg

from api.access import SCOPE_SQL, scope_params
from api.db import DbConn, returned_row
from api.deps import Principal
from api.errors import Conflict, Invalid, NotFound

log = logging.getLogger(__name__)

BOOKING_COLUMNS = """b.booking_id, b.resident_id, b.service, b.provider_id,
    lower(b.slot) AS slot_start, upper(b.slot) AS slot_end, b.status, b.source, b.created_by,
    b.device_id, b.event_id, b.requested_at, b.note, b.completion_confirmed_at,
    b.completion_confirmed_by, b.confirmed_on_behalf"""
# Bookings a caller may see: those of residents in reach, or those they provide.
BOOKING_SCOPE_SQL = f"""(
    EXISTS (SELECT 1 FROM residents r WHERE r.resident_id = b.resident_id AND {SCOPE_SQL})
    OR EXISTS (SELECT 1 FROM providers p WHERE p.provider_id = b.provider_id
               AND p.account_id = %(scope_account)s))"""
# Status changes allowed: (from statuses) -> to.
TRANSITIONS = {
    "in_progress": ("confirmed",),
    "completed": ("in_progress",),
    "cancelled": ("requested", "confirmed", "in_progress"),
}

_FROM_BAND_SQL = """
INSERT INTO bookings (resident_id, service, source, device_id, event_id, requested_at)
SELECT d.resident_id, c.service, 'band', d.device_id, %(event_id)s, %(requested_at)s
FROM devices d JOIN service_catalog c ON c.service = %(service)s
WHERE d.device_id = %(device_id)s AND d.resident_id IS NOT NULL
ON CONFLICT (device_id, event_id) WHERE device_id IS NOT NULL DO NOTHING
RETURNING booking_id"""
_EXISTING_FROM_BAND_SQL = """SELECT booking_id FROM bookings
WHERE device_id = %(device_id)s AND event_id = %(event_id)s"""


def create_from_band_request(
    *,
    conn: psycopg.Connection,
    device_id: str,
    event_id: str,
    service: str,
    requested_at: datetime,
) -> int | None:
    """Book a band's `service_request` event for its resident; idempotent on (band, event id).

    Returns the booking id (the existing one for a repeated event), or None when the band is
    bound to no resident or the service is not in the catalog. Synchronous, for workers.
    """
    params = {
        "device_id": device_id,
        "event_id": event_id,
        "service": service,
        "requested_at": requested_at,
    }
    row = conn.execute(_FROM_BAND_SQL, params).fetchone()
    if row is None:
        row = conn.execute(_EXISTING_FROM_BAND_SQL, params).fetchone()
    if row is None:
        log.warning(
            "service request %s of band %s not booked: unbound band or unknown service",
            event_id,
            device_id,
        )
        return None
    return row[0]


async def list_catalog(*, conn: DbConn) -> list[dict]:
    """The service catalog."""
    cur = await conn.execute(
        "SELECT service, name, duration_min FROM service_catalog ORDER BY service LIMIT 100"
    )
    return await cur.fetchall()


async def create_provider(*, conn: DbConn, fields: dict[str, Any]) -> dict:
    """A company or a volunteer (who must have a volunteer account)."""
    if fields["kind"] == "volunteer":
        account = await (
            await conn.execute(
                "SELECT role FROM accounts WHERE account_id = %s", (fields["account_id"],)
            )
        ).fetchone()
        if account is None or account["role"] != "volunteer":
            raise Conflict("a volunteer provider needs a volunteer account")
    elif fields.get("account_id") is not None:
        raise Invalid("a company provider has no account")
    try:
        cur = await conn.execute(
            """INSERT INTO providers (kind, name, account_id) VALUES (%(kind)s, %(name)s,
               %(account_id)s) RETURNING provider_id, kind, name, account_id""",
            fields,
        )
    except psycopg.errors.UniqueViolation:
        raise Conflict("this account is already a provider") from None
    return await returned_row(cur)


async def list_providers(*, conn: DbConn, limit: int, offset: int) -> list[dict]:
    """Providers by id."""
    cur = await conn.execute(
        "SELECT provider_id, kind, name, account_id FROM providers "
        "ORDER BY provider_id LIMIT %s OFFSET %s",
        (limit, offset),
    )
    return await cur.fetchall()


async def create(
    *, conn: DbConn, principal: Principal, resident_id: int, service: str, note: str
) -> dict:
    """A booking requested by staff or family (the caller already reaches the resident)."""
    source = "family" if principal.role == "family" else "staff"
    cur = await conn.execute(
        """INSERT INTO bookings (resident_id, service, source, created_by, note)
           VALUES (%s, %s, %s, %s, %s) RETURNING booking_id""",
        (resident_id, service, source, principal.account_id, note),
    )
    return await get_or_raise(conn=conn, booking_id=(await returned_row(cur))["booking_id"])


async def get_or_raise(*, conn: DbConn, booking_id: int) -> dict:
    """One booking, or NotFound."""
    cur = await conn.execute(
        f"SELECT {BOOKING_COLUMNS} FROM bookings b WHERE b.booking_id = %s", (booking_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound("booking not found", booking_id=booking_id)
    return row


async def get_visible_or_raise(*, conn: DbConn, principal: Principal, booking_id: int) -> dict:
    """One booking the caller may see, or NotFound (also when it exists but is not theirs)."""
    cur = await conn.execute(
        f"""SELECT {BOOKING_COLUMNS}, p.account_id AS provider_account_id
            FROM bookings b LEFT JOIN providers p USING (provider_id)
            WHERE b.booking_id = %(bid)s AND {BOOKING_SCOPE_SQL}""",
        {**scope_params(principal), "bid": booking_id},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound("booking not found", booking_id=booking_id)
    return row


async def list_visible(
    *,
    conn: DbConn,
    principal: Principal,
    resident_id: int | None,
    status: str | None,
    limit: int,
    offset: int,
) -> list[dict]:
    """Bookings the caller may see, newest first."""
    cur = await conn.execute(
        f"""SELECT {BOOKING_COLUMNS} FROM bookings b
            WHERE {BOOKING_SCOPE_SQL}
              AND (%(rid)s::bigint IS NULL OR b.resident_id = %(rid)s)
              AND (%(status)s::text IS NULL OR b.status = %(status)s)
            ORDER BY b.booking_id DESC LIMIT %(limit)s OFFSET %(offset)s""",
        {
            **scope_params(principal),
            "rid": resident_id,
            "status": status,
            "limit": limit,
            "offset": offset,
        },
    )
    return await cur.fetchall()


async def schedule(*, conn: DbConn, booking_id: int, provider_id: int, start: datetime) -> dict:
    """Confirm a requested booking with a provider and slot; refuse a double-booked provider."""
    try:
        cur = await conn.execute(
            """UPDATE bookings b SET provider_id = %(pid)s, status = 'confirmed',
                   slot = tstzrange(%(start)s, %(start)s + c.duration_min * interval '1 minute'),
                   updated_at = now()
               FROM service_catalog c
               WHERE b.booking_id = %(bid)s AND c.service = b.service
                 AND b.status IN ('requested', 'confirmed')
               RETURNING b.booking_id""",
            {"pid": provider_id, "start": start, "bid": booking_id},
        )
    except psycopg.errors.ExclusionViolation:
        raise Conflict(
            "the provider is already booked for that time", provider_id=provider_id
        ) from None
    except psycopg.errors.ForeignKeyViolation:
        raise Conflict("no such provider", provider_id=provider_id) from None
    if cur.rowcount == 0:
        raise Conflict("only a requested or confirmed booking can be scheduled")
    return await get_or_raise(conn=conn, booking_id=booking_id)


async def transition(*, conn: DbConn, booking_id: int, to: str) -> dict:
    """Move a booking along its lifecycle, or Conflict if its status does not allow it."""
    cur = await conn.execute(
        """UPDATE bookings SET status = %s, updated_at = now()
           WHERE booking_id = %s AND status = ANY(%s)""",
        (to, booking_id, list(TRANSITIONS[to])),
    )
    if cur.rowcount == 0:
        raise Conflict(f"booking cannot become {to} from its current status")
    return await get_or_raise(conn=conn, booking_id=booking_id)


async def confirm_completion(
    *, conn: DbConn, booking_id: int, confirmed_by: int, on_behalf: bool
) -> dict | None:
    """Record the recipient's confirmation of a completed booking; None if already confirmed."""
    cur = await conn.execute(
        f"""UPDATE bookings b SET completion_confirmed_at = now(),
                completion_confirmed_by = %s, confirmed_on_behalf = %s, updated_at = now()
            WHERE booking_id = %s AND status = 'completed' AND completion_confirmed_at IS NULL
            RETURNING {BOOKING_COLUMNS}""",
        (confirmed_by, on_behalf, booking_id),
    )
    return await cur.fetchone()
