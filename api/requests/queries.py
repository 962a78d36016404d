"""Reads of requests, scoped to the caller in the same statement; audited where personal.

Who sees a request: admin and duty staff every one; grid workers, community directors and
street officers those of their grids; family accounts (a resident's own login is a family
account linked to themselves) those they opened and those of residents linked to them with
consent on record; department staff those their department is summoned to. Anything else
is answered exactly like a request that does not exist.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from api.access import SCOPE_SQL, scope_params
from api.deps import Principal
from api.errors import NotFound

# The first-answer promise is 24 h; the director's list shows requests still without a
# public reply at 20 h, while there is time to keep it.
PROMISE_WARN = timedelta(hours=20)

REQUEST_SCOPE_SQL = f"""EXISTS (
    SELECT 1 FROM accounts qa WHERE qa.account_id = %(scope_account)s AND NOT qa.disabled AND (
        qa.role IN ('admin', 'duty_staff')
        OR (qa.role IN ('grid_worker', 'community_director', 'street_officer') AND EXISTS (
            SELECT 1 FROM account_grids qg
            WHERE qg.account_id = qa.account_id AND qg.grid_id = q.grid_id))
        OR (qa.role = 'family' AND (q.created_by = qa.account_id
            OR (r.resident_id IS NOT NULL AND {SCOPE_SQL})))
        OR (qa.role = 'department_staff' AND EXISTS (
            SELECT 1 FROM request_departments qd JOIN account_departments qad
                ON qad.department_id = qd.department_id
            WHERE qd.request_id = q.request_id AND qad.account_id = qa.account_id))))"""
FROM_REQUESTS = "requests q LEFT JOIN residents r ON r.resident_id = q.resident_id"
# 0 most urgent: on the difficult-issues list; promise nearly broken; unacknowledged; taken.
URGENCY_SQL = """CASE WHEN q.status = 'resolved' THEN 4
    WHEN q.difficult_since IS NOT NULL THEN 0
    WHEN q.first_reply_at IS NULL AND q.opened_at <= %(now)s - %(warn)s THEN 1
    WHEN q.status = 'open' THEN 2 ELSE 3 END"""
SUMMARY_COLUMNS = f"""q.request_id, q.number, q.category, q.status::text AS status, q.channel,
    q.resident_id, q.grid_id, q.address, q.opened_at, q.acknowledged_at, q.resolved_at,
    q.first_reply_at, q.difficult_since, q.reopen_count, q.repeat_of,
    extract(epoch FROM %(now)s - q.opened_at) / 3600.0 AS age_h, {URGENCY_SQL} AS urgency"""


def _params(principal: Principal, now: datetime, **more: Any) -> dict[str, Any]:
    return {**scope_params(principal), "now": now, "warn": PROMISE_WARN, **more}


def _all(conn: psycopg.Connection, query: str, params: dict) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()  # type: ignore[arg-type]


def is_requester_view(principal: Principal) -> bool:
    """Family accounts (and residents' own) see the public side only."""
    return principal.role == "family"


def list_visible(
    conn: psycopg.Connection,
    *,
    principal: Principal,
    now: datetime,
    status: list[str] | None,
    list_name: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """The queue: requests in reach, most urgent first, then the oldest first.

    `list_name`: 'difficult' (the difficult-issues list) or 'promise' (no public reply
    after 20 h: the director's list of the 24 h first-answer promise).
    """
    return _all(
        conn,
        f"""SELECT {SUMMARY_COLUMNS} FROM {FROM_REQUESTS}
            WHERE {REQUEST_SCOPE_SQL}
              AND (%(status)s::request_status[] IS NULL OR q.status = ANY(%(status)s))
              AND (%(list)s::text IS NULL
                   OR (%(list)s = 'difficult' AND q.difficult_since IS NOT NULL
                       AND q.status <> 'resolved')
                   OR (%(list)s = 'promise' AND q.first_reply_at IS NULL
                       AND q.opened_at <= %(now)s - %(warn)s))
            ORDER BY urgency, q.opened_at, q.request_id LIMIT %(limit)s OFFSET %(offset)s""",
        _params(principal, now, status=status, list=list_name, limit=limit, offset=offset),
    )


def get_visible_or_raise(
    conn: psycopg.Connection, *, principal: Principal, request_id: int, now: datetime
) -> dict[str, Any]:
    """One request the caller may see (with text, point and resident); NotFound otherwise."""
    rows = _all(
        conn,
        f"""SELECT {SUMMARY_COLUMNS}, q.text, q.lat, q.lon, r.full_name AS resident_name,
                   r.phone AS resident_phone
            FROM {FROM_REQUESTS} WHERE q.request_id = %(id)s AND {REQUEST_SCOPE_SQL}""",
        _params(principal, now, id=request_id),
    )
    if not rows:
        raise NotFound("request not found", request_id=request_id)
    return rows[0]


def read_for_staff(
    conn: psycopg.Connection,
    *,
    principal: Principal,
    request_id: int,
    purpose: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A request with its resident and history, for staff; the resident's data is an
    audited read (the audit row is written before anything is returned)."""
    req = get_visible_or_raise(conn, principal=principal, request_id=request_id, now=now)
    if req["resident_id"] is not None:
        conn.execute(
            """INSERT INTO audit_log (at, account_id, role, resident_id, action, purpose)
               SELECT %s, account_id, role, %s, 'request.read', coalesce(%s, 'request_handling')
               FROM accounts WHERE account_id = %s""",
            (now, req["resident_id"], purpose, principal.account_id),
        )
    req["history"] = _all(
        conn,
        f"""SELECT {SUMMARY_COLUMNS} FROM {FROM_REQUESTS}
            WHERE q.request_id <> %(id)s AND q.opened_at <= %(opened)s
              AND ((%(rid)s::bigint IS NOT NULL AND q.resident_id = %(rid)s)
                   OR (%(address)s <> '' AND q.address = %(address)s))
              AND {REQUEST_SCOPE_SQL}
            ORDER BY q.opened_at DESC LIMIT 20""",
        _params(
            principal,
            now,
            id=request_id,
            opened=req["opened_at"],
            rid=req["resident_id"],
            address=req["address"],
        ),
    )
    return req


def timeline(
    conn: psycopg.Connection, *, request_id: int, public_only: bool
) -> list[dict[str, Any]]:
    """The request's timeline, oldest first (the requester sees the public entries only)."""
    return _all(
        conn,
        """SELECT request_event_id, at, actor, kind, public, data FROM request_events
           WHERE request_id = %(id)s AND (public OR NOT %(public_only)s)
           ORDER BY request_event_id""",
        {"id": request_id, "public_only": public_only},
    )


def policies(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every category's escalation policy."""
    return _all(
        conn,
        """SELECT c.category, c.policy_id, p.steps FROM request_categories c
           JOIN escalation_policies p USING (policy_id) ORDER BY c.category""",
        {},
    )
