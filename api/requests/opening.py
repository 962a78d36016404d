"""Opening a request: who may, by which channel, its number, grid, category and repeat
flag, and its ladder's first step (the grid worker's page) in the same transaction.

Synchronous (a psycopg Connection with autocommit), like the rest of the requests' changes:
the ladder is the alerts' machinery (alerting.request_ladder).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from alerting import request_ladder
from api.access import SCOPE_SQL, scope_params
from api.deps import GRID_SCOPED, STAFF_ALL, Principal
from api.errors import Forbidden, Invalid, NotFound
from api.requests import routing
from api.requests.service import actor_of, fetch_one, policy_of

ZONE = ZoneInfo("Asia/Shanghai")
# A request is a repeat of an earlier one of the same category, for the same resident or
# the same place, opened this long before it.
REPEAT_WINDOW = timedelta(days=30)
STAFF_CHANNELS = {"hotline", "walk_in", "visit"}


def next_number(conn: psycopg.Connection, *, now: datetime) -> str:
    """The next number residents quote: 2026-000123 (counted per year, Asia/Shanghai)."""
    year = now.astimezone(ZONE).year
    row = conn.execute(
        """INSERT INTO request_numbers (year, last) VALUES (%s, 1)
           ON CONFLICT (year) DO UPDATE SET last = request_numbers.last + 1 RETURNING last""",
        (year,),
    ).fetchone()
    return f"{year}-{row[0]:06d}"  # type: ignore[index]  # RETURNING always yields a row


def channel_for(principal: Principal, asked: str | None) -> str:
    """The channel a caller's new request came by; Forbidden for roles that may not create."""
    if principal.role == "family":
        return "app"
    if principal.role == "grid_worker" and asked in (None, "grid_worker"):
        return "grid_worker"
    if principal.role in STAFF_ALL | GRID_SCOPED:
        if asked not in STAFF_CHANNELS:
            raise Invalid("say how it reached you: hotline, walk_in or visit", channel=asked)
        return asked
    raise Forbidden("your role may not open requests", role=principal.role)


def reach_resident_or_raise(
    conn: psycopg.Connection, *, principal: Principal, resident_id: int
) -> None:
    """NotFound unless the caller may see this resident (as api.access, on a sync connection)."""
    found = conn.execute(
        "SELECT 1 FROM residents r WHERE r.resident_id = %(rid)s AND " + SCOPE_SQL,
        {"rid": resident_id, **scope_params(principal)},
    ).fetchone()
    if found is None:
        raise NotFound("resident not found", resident_id=resident_id)


def open_for(conn: psycopg.Connection, *, principal: Principal, body: dict, now: datetime) -> int:
    """Open a request as the caller: checks their role, channel and reach of the resident."""
    channel = channel_for(principal, body.get("channel"))
    resident_id = body.get("resident_id")
    if principal.role == "family" and resident_id is None:
        raise Invalid("say which resident the request is for", field="resident_id")
    if resident_id is not None:
        reach_resident_or_raise(conn, principal=principal, resident_id=resident_id)
    return open_request(
        conn,
        text=body["text"],
        category=body.get("category"),
        channel=channel,
        now=now,
        resident_id=resident_id,
        address=body.get("address") or "",
        lat=body.get("lat"),
        lon=body.get("lon"),
        created_by=principal.account_id,
        grid_hint=principal.grid_ids,
    )


def open_request(
    conn: psycopg.Connection,
    *,
    text: str,
    category: str | None,
    channel: str,
    now: datetime,
    resident_id: int | None = None,
    address: str = "",
    lat: float | None = None,
    lon: float | None = None,
    created_by: int | None = None,
    grid_hint: tuple[int, ...] = (),
    device_id: str | None = None,
    event_id: str | None = None,
) -> int:
    """Open a request and notify its grid worker at once (the ladder's first step)."""
    with conn.transaction():
        resident = None
        if resident_id is not None:
            resident = fetch_one(
                conn,
                "SELECT grid_id, address FROM residents WHERE resident_id = %s",
                (resident_id,),
            )
        if not address and resident is not None:
            address = resident["address"] or ""
        grid_id = routing.grid_of(
            conn,
            resident_grid=resident["grid_id"] if resident else None,
            lat=lat,
            lon=lon,
            address=address,
            creator_grids=grid_hint,
        )
        suggestion = routing.suggest(conn, text=text)
        chosen = category or suggestion["category"]
        policy_id, steps = policy_of(conn, category=chosen)
        row = conn.execute(
            """INSERT INTO requests (number, resident_id, grid_id, category, text, address,
                   lat, lon, channel, created_by, device_id, event_id, opened_at, policy_id,
                   policy_steps, esc_step, esc_due_at, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s)
               RETURNING request_id""",
            (
                next_number(conn, now=now),
                resident_id,
                grid_id,
                chosen,
                text,
                address,
                lat,
                lon,
                channel,
                created_by,
                device_id,
                event_id,
                now,
                policy_id,
                Jsonb(steps),
                now,
                now,
            ),
        ).fetchone()
        request_id: int = row[0]  # type: ignore[index]  # RETURNING always yields a row
        actor = "band" if channel == "band" else actor_of(created_by or 0)
        request_ladder.record_event(
            conn,
            request_id=request_id,
            at=now,
            actor=actor,
            kind="opened",
            public=True,
            data={
                "channel": channel,
                "category": chosen,
                "grid_id": grid_id,
                "suggestion": suggestion,
            },
        )
        _flag_repeat(conn, request_id=request_id, now=now)
        request_ladder.advance(conn, request_id=request_id, now=now)
    return request_id


def _flag_repeat(conn: psycopg.Connection, *, request_id: int, now: datetime) -> None:
    earlier = conn.execute(
        """SELECT e.request_id FROM requests q JOIN requests e
             ON e.request_id <> q.request_id AND e.category = q.category
            AND e.opened_at BETWEEN q.opened_at - %s AND q.opened_at
            AND (e.resident_id = q.resident_id
                 OR (q.address <> '' AND e.address = q.address))
           WHERE q.request_id = %s ORDER BY e.opened_at DESC LIMIT 1""",
        (REPEAT_WINDOW, request_id),
    ).fetchone()
    if earlier is None:
        return
    conn.execute(
        "UPDATE requests SET repeat_of = %s WHERE request_id = %s", (earlier[0], request_id)
    )
    request_ladder.record_event(
        conn,
        request_id=request_id,
        at=now,
        actor="routing",
        kind="repeat_flagged",
        data={"repeat_of": earlier[0]},
    )
