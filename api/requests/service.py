"""Residents' requests: the staff's actions, replies, ratings, reopening, categories and
policies (opening is in `opening`).

Synchronous (a psycopg Connection with autocommit), because every change runs in one
transaction with the request's escalation ladder (alerting.request_ladder), which is the
alerts' machinery: the ladder is copied onto the request when it opens, the grid worker's
step runs in the opening transaction, and later steps run from the escalation loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerting import request_ladder
from alerting.alerts import escalation
from api import ratings
from api.errors import Conflict, Invalid, NotFound
from api.requests import routing


def actor_of(account_id: int) -> str:
    """How an account is named on a request's timeline."""
    return f"account:{account_id}"


def _record(
    conn: psycopg.Connection,
    request_id: int,
    account_id: int,
    now: datetime,
    kind: str,
    data: dict | None = None,
    *,
    public: bool = True,
) -> None:
    request_ladder.record_event(
        conn,
        request_id=request_id,
        at=now,
        actor=actor_of(account_id),
        kind=kind,
        data=data,
        public=public,
    )


def fetch_one(conn: psycopg.Connection, query: str, params: Any) -> dict[str, Any] | None:
    """One row as a dict, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchone()  # type: ignore[arg-type]


def policy_of(conn: psycopg.Connection, *, category: str) -> tuple[str, list[dict]]:
    """The policy id and steps a new request of `category` climbs; Invalid if no category."""
    row = conn.execute(
        """SELECT p.policy_id, p.steps FROM request_categories c
           JOIN escalation_policies p USING (policy_id) WHERE c.category = %s""",
        (category,),
    ).fetchone()
    if row is None:
        raise Invalid("unknown category", category=category)
    return row[0], row[1]


def _lock(conn: psycopg.Connection, request_id: int) -> dict[str, Any]:
    found = fetch_one(
        conn, "SELECT * FROM requests WHERE request_id = %s FOR UPDATE", (request_id,)
    )
    if found is None:
        raise NotFound("request not found", request_id=request_id)
    return found


def _refuse(request: dict, action: str) -> Conflict:
    return Conflict(
        f"request is {request['status']}; cannot {action}",
        request_id=request["request_id"],
        status=request["status"],
        action=action,
    )


def acknowledge(conn: psycopg.Connection, *, request_id: int, account_id: int, now: datetime):
    """The grid worker (or anyone on it) has taken the request: the director is not paged."""
    with conn.transaction():
        req = _lock(conn, request_id)
        if req["status"] != "open":
            raise _refuse(req, "acknowledge")
        conn.execute(
            """UPDATE requests SET status = 'acknowledged', acknowledged_at = %s,
                      acknowledged_by = %s, first_response_at = coalesce(first_response_at, %s),
                      updated_at = %s WHERE request_id = %s""",
            (now, account_id, now, now, request_id),
        )
        if not escalation.has_steps_after_ack(req["policy_steps"], req["esc_step"]):
            conn.execute(
                "UPDATE requests SET esc_due_at = NULL WHERE request_id = %s", (request_id,)
            )
        _record(conn, request_id, account_id, now, "acknowledged")


def reply(
    conn: psycopg.Connection,
    *,
    request_id: int,
    account_id: int,
    text: str,
    public: bool,
    now: datetime,
) -> None:
    """A reply to the requester (public: keeps the 24 h promise) or a staff-internal note."""
    with conn.transaction():
        _lock(conn, request_id)
        if public:
            conn.execute(
                """UPDATE requests SET first_reply_at = coalesce(first_reply_at, %s),
                          first_response_at = coalesce(first_response_at, %s),
                          updated_at = %s WHERE request_id = %s""",
                (now, now, now, request_id),
            )
        kind = "reply" if public else "note"
        _record(conn, request_id, account_id, now, kind, {"text": text}, public=public)


def resolve(
    conn: psycopg.Connection, *, request_id: int, account_id: int, resolution: str, now: datetime
) -> None:
    """Resolve the request: its ladder stops; the resolution is a public reply."""
    with conn.transaction():
        req = _lock(conn, request_id)
        if req["status"] == "resolved":
            raise _refuse(req, "resolve")
        conn.execute(
            """UPDATE requests SET status = 'resolved', resolved_at = %s, resolved_by = %s,
                      first_reply_at = coalesce(first_reply_at, %s),
                      first_response_at = coalesce(first_response_at, %s), esc_due_at = NULL,
                      updated_at = %s WHERE request_id = %s""",
            (now, account_id, now, now, now, request_id),
        )
        _record(conn, request_id, account_id, now, "resolved", {"resolution": resolution})


def rate(
    conn: psycopg.Connection,
    *,
    request_id: int,
    account_id: int,
    score: int,
    comment: str,
    now: datetime,
) -> bool:
    """The requester rates a resolved request; 1-2 reopens it to the director. True if reopened."""
    with conn.transaction():
        req = _lock(conn, request_id)
        if req["status"] != "resolved":
            raise _refuse(req, "rate")
        return ratings.rate(
            conn, RATED_REQUESTS, req, account_id=account_id, score=score, comment=comment, now=now
        )


def _store_rating(
    conn: psycopg.Connection, req: dict, *, account_id: int, score: int, comment: str, now
) -> int | None:
    """One rating per resolution: the n-th rates the request as it stood after reopen n."""
    inserted = conn.execute(
        """INSERT INTO request_ratings (request_id, score, comment, rated_by, rated_at, round)
           VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (request_id, round) DO NOTHING
           RETURNING rating_id""",
        (req["request_id"], score, comment, account_id, now, req["reopen_count"]),
    ).fetchone()
    if inserted is None:
        return None
    conn.execute(
        "UPDATE requests SET last_score = %s WHERE request_id = %s", (score, req["request_id"])
    )
    return inserted[0]


def _record_rating(conn: psycopg.Connection, req: dict, *, account_id: int, now, data) -> None:
    _record(conn, req["request_id"], account_id, now, "rated", data)


def _reopen_on_low_rating(conn: psycopg.Connection, req: dict, *, account_id: int, now, **_):
    _reopen_to_director(conn, req, account_id=account_id, now=now)


RATED_REQUESTS = ratings.Rated("request", _store_rating, _record_rating, _reopen_on_low_rating)


def _reopen_to_director(conn: psycopg.Connection, req: dict, *, account_id: int, now: datetime):
    steps = req["policy_steps"]
    director_step = next(
        (
            i
            for i, s in enumerate(steps)
            if s.get("action") == "notify" and "community_director" in s.get("targets", [])
        ),
        0,
    )
    repeats = escalation.fresh_repeats(steps, req["esc_repeats"])
    conn.execute(
        """UPDATE requests SET status = 'open', resolved_at = NULL, resolved_by = NULL,
                  acknowledged_at = NULL, acknowledged_by = NULL,
                  reopen_count = reopen_count + 1, esc_step = %s, esc_due_at = %s,
                  esc_repeats = %s, updated_at = %s WHERE request_id = %s""",
        (director_step, now, Jsonb(repeats), now, req["request_id"]),
    )
    _record(conn, req["request_id"], account_id, now, "reopened", {"to_step": director_step})
    request_ladder.advance(conn, request_id=req["request_id"], now=now)


def correct_category(
    conn: psycopg.Connection, *, request_id: int, account_id: int, category: str, now: datetime
) -> None:
    """Staff set the request's category; the correction becomes training data."""
    with conn.transaction():
        req = _lock(conn, request_id)
        policy_of(conn, category=category)  # Invalid if unknown
        conn.execute(
            "UPDATE requests SET category = %s, updated_at = %s WHERE request_id = %s",
            (category, now, request_id),
        )
        routing.keep_label(
            conn,
            request_id=request_id,
            text=req["text"],
            category=category,
            account_id=account_id,
            now=now,
        )
        change = {"category": category, "previous": req["category"]}
        _record(conn, request_id, account_id, now, "category_set", change, public=False)


def set_policy(
    conn: psycopg.Connection, *, category: str, steps: list[dict], account_id: int, now: datetime
) -> str:
    """Replace the steps of a category's policy; ladders already climbing keep their copy."""
    policy_id, _ = policy_of(conn, category=category)
    _check_steps(steps)
    conn.execute(
        "UPDATE escalation_policies SET steps = %s, updated_at = %s WHERE policy_id = %s",
        (Jsonb(steps), now, policy_id),
    )
    return policy_id


def _check_steps(steps: list[dict]) -> None:
    known_targets = set(request_ladder.TARGET_ROLES) | {request_ladder.DIFFICULT_LIST}
    for i, spec in enumerate(steps):
        action = spec.get("action")
        if action == "notify":
            targets = spec.get("targets")
            if (
                not isinstance(targets, list)
                or not targets
                or not all(isinstance(t, str) for t in targets)
                or not set(targets) <= known_targets
            ):
                raise Invalid("notify needs known targets", step=i, known=sorted(known_targets))
            if spec.get("stop_on", "acknowledged") not in ("acknowledged", "resolved"):
                raise Invalid("stop_on is acknowledged or resolved", step=i)
        elif action == "wait":
            if not _whole(spec.get("seconds"), 1, 30 * 86400):
                raise Invalid("wait needs whole seconds, up to 30 days", step=i)
        elif action == "repeat":
            if not (_whole(spec.get("to_step"), 0, i - 1) and _whole(spec.get("times"), 1, 10)):
                raise Invalid("repeat goes back to an earlier step, 1-10 times", step=i)
        else:
            raise Invalid("unknown action", step=i, action=action)


def _whole(value: object, low: int, high: int) -> bool:
    """A whole number (not a bool) within [low, high]."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
