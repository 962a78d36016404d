"""Residents' requests climb the same escalation ladders as alerts (see alerts/escalation.py).

This module says only what differs: who a request's targets are (the grid worker, community
director and street officers of the request's grid, and the difficult-issues list), what
their pages say, and where the timeline lives (`request_events`). Timers, locking, steps
that are safe to run twice and the outbox are the alerts' own.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting.alerts import escalation
from eldercare.i18n import local_time, text

# Ladder targets that are people: the role whose accounts over the request's grid answer.
TARGET_ROLES = {
    "grid_worker": "grid_worker",
    "community_director": "community_director",
    "street": "street_officer",
}
# Not a person: the step puts the request on the difficult-issues list.
DIFFICULT_LIST = "difficult_list"


def record_event(
    conn: psycopg.Connection,
    *,
    request_id: int,
    at: datetime,
    actor: str,
    kind: str,
    data: dict | None = None,
    public: bool = False,
) -> int:
    """Add an entry to the request's timeline; return its id."""
    row = conn.execute(
        """INSERT INTO request_events (request_id, at, actor, kind, public, data)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING request_event_id""",
        (request_id, at, actor, kind, public, Jsonb(data or {})),
    ).fetchone()
    return row[0]  # type: ignore[index]  # RETURNING always yields a row


def _record(conn, *, object_id: int, at: datetime, kind: str, data: dict) -> None:
    record_event(conn, request_id=object_id, at=at, actor="escalation", kind=kind, data=data)


def _notify(
    conn, *, object_id: int, targets: list[str], step: int, repetition: int, now: datetime
) -> tuple[list[str], dict]:
    # One round trip for the request and everyone its targets name (a hot path: each step
    # of a hundred thousand open requests runs it).
    roles = [TARGET_ROLES[t] for t in targets if t in TARGET_ROLES]
    with conn.cursor(row_factory=dict_row) as cur:
        req = cur.execute(
            """SELECT q.request_id, q.number, q.category, q.address, q.grid_id, q.opened_at,
                      q.policy_steps, g.name AS grid_name,
                      coalesce((SELECT json_agg(json_build_object('account_id', a.account_id,
                                    'full_name', a.full_name, 'role', a.role)
                                    ORDER BY a.account_id)
                                FROM accounts a JOIN account_grids ag USING (account_id)
                                WHERE ag.grid_id = q.grid_id AND a.role = ANY(%s)
                                  AND NOT a.disabled), '[]') AS people
               FROM requests q LEFT JOIN grids g USING (grid_id) WHERE q.request_id = %s""",
            (roles, object_id),
        ).fetchone()
    assert req is not None  # noqa: S101 - the caller holds its row lock
    stop_on = req["policy_steps"][step].get("stop_on", "acknowledged")
    sent: list[str] = []
    responsible: list[dict] = []
    for target in targets:
        if target == DIFFICULT_LIST:
            conn.execute(
                """UPDATE requests SET difficult_since = coalesce(difficult_since, %s)
                   WHERE request_id = %s""",
                (now, object_id),
            )
            sent.append(target)
            continue
        role = TARGET_ROLES.get(target)
        if role is None:
            continue
        people = [p for p in req["people"] if p["role"] == role]
        if target == "grid_worker" and people:
            conn.execute(
                """UPDATE requests SET grid_worker_id = coalesce(grid_worker_id, %s)
                   WHERE request_id = %s""",
                (people[0]["account_id"], object_id),
            )
        responsible += people
        key = f"request-{object_id}-step-{step}-rep-{repetition}-{target}"
        payload = {
            "target": target,
            "role": target,
            "idempotency_key": key,
            "recipients": [p["account_id"] for p in people],
            "request": _summary(req),
            "message": {
                locale: text(
                    f"request.notice.{target}",
                    locale,
                    number=req["number"],
                    category=text(f"request.category.{req['category']}", locale),
                    address=req["address"],
                    opened_at=local_time(req["opened_at"]),
                )
                for locale in ("zh_CN", "en")
            },
        }
        conn.execute(
            """INSERT INTO outbox (idempotency_key, channel, request_id, priority, payload,
                   status, created_at, next_attempt_at, stop_on)
               VALUES (%s, 'community_gateway', %s, 3, %s, 'pending', %s, %s, %s)
               ON CONFLICT (idempotency_key) DO NOTHING""",
            (key, object_id, Jsonb(payload), now, now, stop_on),
        )
        sent.append(target)
    return sent, {"responsible": responsible}


def _summary(req: dict) -> dict:
    return {
        "request_id": req["request_id"],
        "number": req["number"],
        "category": req["category"],
        "address": req["address"],
        "grid_id": req["grid_id"],
        "grid_name": req["grid_name"],
        "opened_at": req["opened_at"].isoformat(),
    }


REQUESTS = escalation.Ladder("request", "requests", "request_id", _notify, _record)


def run_due(conn: psycopg.Connection, *, now: datetime, limit: int = 200) -> int:
    """Advance every request whose next step is due (the escalation loop calls this)."""
    return escalation.run_due(conn, now=now, limit=limit, ladder=REQUESTS)


def advance(conn: psycopg.Connection, *, request_id: int, now: datetime) -> int:
    """Run the request's due steps; the caller holds its row lock (in a transaction)."""
    return escalation.advance_ladder(conn, REQUESTS, object_id=request_id, now=now)
