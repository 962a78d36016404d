"""Partners, their offers, the bookings they serve and the quality staff record."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import psycopg

from api.access import scope_params
from api.db import DbConn
from api.deps import Principal
from api.errors import Conflict, NotFound
from api.requests.queries import FROM_REQUESTS, REQUEST_SCOPE_SQL

_OFFER = """offer_id, partner_id, title, category, discount_pct, opening_hours,
    capacity_per_week"""


async def create(*, conn: DbConn, fields: dict) -> dict:
    """A partner unit with its offers."""
    offers = fields.pop("offers")
    async with conn.transaction():
        try:
            partner = await (
                await conn.execute(
                    """INSERT INTO partners (name, kind, phone, address)
                       VALUES (%(name)s, %(kind)s, %(phone)s, %(address)s)
                       RETURNING partner_id, name, kind, phone, address""",
                    fields,
                )
            ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise Conflict("a partner of that name exists", name=fields["name"]) from None
        assert partner is not None
        made = []
        for offer in offers:
            cur = await conn.execute(
                f"""INSERT INTO partner_offers (partner_id, title, category, discount_pct,
                        opening_hours, capacity_per_week)
                    VALUES (%(pid)s, %(title)s, %(category)s, %(discount_pct)s,
                            %(opening_hours)s, %(capacity_per_week)s)
                    RETURNING {_OFFER}""",
                {**offer, "pid": partner["partner_id"]},
            )
            made.append(await cur.fetchone())
    return {**partner, "offers": made}


async def list_active(*, conn: DbConn, category: str | None) -> list[dict]:
    """Active partners with their active offers (of one category, if asked)."""
    partners = await (
        await conn.execute(
            "SELECT partner_id, name, kind, phone, address FROM partners WHERE active ORDER BY name"
        )
    ).fetchall()
    offers = await (
        await conn.execute(
            f"""SELECT {_OFFER} FROM partner_offers WHERE active
                AND (%(cat)s::text IS NULL OR category = %(cat)s) ORDER BY offer_id""",
            {"cat": category},
        )
    ).fetchall()
    by_partner: dict[int, list[dict]] = {}
    for offer in offers:
        by_partner.setdefault(offer["partner_id"], []).append(offer)
    return [
        {**p, "offers": by_partner.get(p["partner_id"], [])}
        for p in partners
        if category is None or p["partner_id"] in by_partner
    ]


async def booking_resident(*, conn: DbConn, booking_id: int) -> int:
    row = await (
        await conn.execute("SELECT resident_id FROM bookings WHERE booking_id = %s", (booking_id,))
    ).fetchone()
    if row is None:
        raise NotFound("booking not found", booking_id=booking_id)
    return row["resident_id"]


# Which partner serves a booking or a request: one row per booking or request.
_LINK = """
INSERT INTO {table} ({key}, partner_id, offer_id, linked_by, linked_at) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT ({key}) DO UPDATE SET partner_id = excluded.partner_id, offer_id = excluded.offer_id,
    linked_by = excluded.linked_by, linked_at = excluded.linked_at"""
_LINKS = {
    "booking_id": _LINK.format(table="booking_partners", key="booking_id"),
    "request_id": _LINK.format(table="request_partners", key="request_id"),
}


async def link_partner(
    *,
    conn: DbConn,
    key: Literal["booking_id", "request_id"],
    key_id: int,
    partner_id: int,
    offer_id: int | None,
    by: int,
    now: datetime,
) -> dict:
    """Name the partner (and offer) that serves a booking or a request."""
    if offer_id is not None:
        ok = await (
            await conn.execute(
                "SELECT 1 FROM partner_offers WHERE offer_id = %s AND partner_id = %s",
                (offer_id, partner_id),
            )
        ).fetchone()
        if ok is None:
            raise NotFound("offer not found for this partner", offer_id=offer_id)
    try:
        await conn.execute(_LINKS[key], (key_id, partner_id, offer_id, by, now))
    except psycopg.errors.ForeignKeyViolation:
        raise NotFound("partner not found", partner_id=partner_id) from None
    return {key: key_id, "partner_id": partner_id, "offer_id": offer_id}


async def visible_request_or_raise(*, conn: DbConn, principal: Principal, request_id: int) -> None:
    """404 unless the request exists and the caller may see it (the requests' own scope)."""
    row = await (
        await conn.execute(
            f"SELECT 1 FROM {FROM_REQUESTS} WHERE q.request_id = %(id)s AND {REQUEST_SCOPE_SQL}",
            {**scope_params(principal), "id": request_id},
        )
    ).fetchone()
    if row is None:
        raise NotFound("request not found", request_id=request_id)


async def review(*, conn: DbConn, partner_id: int, fields: dict, by: int, now: datetime) -> dict:
    """Staff's record of how well a partner served."""
    try:
        cur = await conn.execute(
            """INSERT INTO partner_reviews (partner_id, booking_id, rating, note, recorded_by, at)
               VALUES (%(pid)s, %(booking_id)s, %(rating)s, %(note)s, %(by)s, %(now)s)
               RETURNING review_id, partner_id, booking_id, rating, note, recorded_by, at""",
            {**fields, "pid": partner_id, "by": by, "now": now},
        )
    except psycopg.errors.ForeignKeyViolation:
        raise NotFound("partner or booking not found", partner_id=partner_id) from None
    return await cur.fetchone()  # type: ignore[return-value]


async def monthly_summary(*, conn: DbConn, partner_id: int, month: date, zone: ZoneInfo) -> dict:
    """Bookings, completions, capacity use and quality of one partner in one local month."""
    days = calendar.monthrange(month.year, month.month)[1]
    start = datetime.combine(month.replace(day=1), time(), zone)
    end = start + timedelta(days=days)
    row = await (
        await conn.execute(
            """SELECT p.partner_id, p.name,
                      (SELECT sum(capacity_per_week) FROM partner_offers o
                       WHERE o.partner_id = p.partner_id AND o.active) AS weekly,
                      count(b.booking_id) AS bookings,
                      count(b.booking_id) FILTER (WHERE b.status = 'completed') AS completed,
                      count(b.booking_id) FILTER (WHERE b.status = 'cancelled') AS cancelled,
                      (SELECT count(*) FROM partner_reviews r WHERE r.partner_id = p.partner_id
                         AND r.at >= %(start)s AND r.at < %(end)s) AS reviews,
                      (SELECT avg(rating) FROM partner_reviews r WHERE r.partner_id = p.partner_id
                         AND r.at >= %(start)s AND r.at < %(end)s) AS mean_rating
               FROM partners p
               LEFT JOIN booking_partners bp ON bp.partner_id = p.partner_id
               LEFT JOIN bookings b ON b.booking_id = bp.booking_id
                    AND b.requested_at >= %(start)s AND b.requested_at < %(end)s
               WHERE p.partner_id = %(pid)s GROUP BY p.partner_id""",
            {"pid": partner_id, "start": start, "end": end},
        )
    ).fetchone()
    if row is None:
        raise NotFound("partner not found", partner_id=partner_id)
    capacity = None if row["weekly"] is None else round(int(row["weekly"]) * days / 7)
    used = None if not capacity else round(100 * (row["bookings"] - row["cancelled"]) / capacity, 1)
    mean = None if row["mean_rating"] is None else round(float(row["mean_rating"]), 2)
    return {
        "partner_id": partner_id, "name": row["name"], "month": month.strftime("%Y-%m"),
        "bookings": row["bookings"], "completed": row["completed"],
        "cancelled": row["cancelled"], "capacity": capacity, "capacity_used_pct": used,
        "reviews": row["reviews"], "mean_rating": mean,
    }  # fmt: skip
