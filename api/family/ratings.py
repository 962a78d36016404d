"""Ratings of how a resolved SOS or fall was handled, by the resident or their family.

The rule (once per account, timeline entry, a low rating to the director) is the requests'
(`api.ratings`); this module says where an alert's rating is kept, and that a low one pages
the community director of the resident's grid through the alert outbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerting.alerts import outbox
from alerting.alerts.changes import record
from api import ratings
from api.access import SCOPE_SQL, scope_params
from api.errors import Conflict, Invalid, NotFound
from api.family.service import URGENT_RULES
from api.requests.service import actor_of
from eldercare.i18n import DEFAULT_TIME_ZONE, text

# Resolved alerts are offered for rating this long after their resolution.
ASK_FOR = timedelta(days=14)


def rate_alert(
    conn: psycopg.Connection,
    *,
    alert_id: int,
    account_id: int,
    score: int,
    comment: str,
    now: datetime,
) -> bool:
    """Rate a resolved SOS or fall of a resident in reach; True if it went to the director."""
    with conn.transaction():
        alert = _lock_in_reach(conn, alert_id=alert_id, account_id=account_id)
        if alert["rule"] not in URGENT_RULES:
            raise Invalid(text("rating.error.alert_not_urgent"), alert_id=alert_id)
        if alert["status"] != "resolved":
            raise Conflict(
                text("rating.error.alert_not_resolved"), alert_id=alert_id, status=alert["status"]
            )
        return ratings.rate(
            conn, RATED_ALERTS, alert, account_id=account_id, score=score, comment=comment, now=now
        )


def awaiting(
    conn: psycopg.Connection, *, resident_id: int, account_id: int, now: datetime
) -> list[dict[str, Any]]:
    """The resident's SOS and falls resolved lately that this account has not rated."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT a.alert_id, a.rule, a.opened_at, a.resolved_at FROM alerts a
               WHERE a.resident_id = %s AND a.rule = ANY(%s) AND a.status = 'resolved'
                 AND a.resolved_at >= %s
                 AND NOT EXISTS (SELECT 1 FROM alert_ratings ar
                                 WHERE ar.alert_id = a.alert_id AND ar.rated_by = %s)
               ORDER BY a.resolved_at DESC LIMIT 10""",
            (resident_id, list(URGENT_RULES), now - ASK_FOR, account_id),
        ).fetchall()


def _lock_in_reach(conn: psycopg.Connection, *, alert_id: int, account_id: int) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(
            f"""SELECT a.alert_id, a.rule, a.status::text AS status, a.opened_at, r.grid_id
                FROM alerts a JOIN residents r ON r.resident_id = a.resident_id
                WHERE a.alert_id = %(alert_id)s AND {SCOPE_SQL} FOR UPDATE OF a""",
            {"alert_id": alert_id, **scope_params(account_id)},
        ).fetchone()
    if found is None:
        raise NotFound("alert not found", alert_id=alert_id)
    return found


def _store(
    conn: psycopg.Connection, alert: dict, *, account_id: int, score: int, comment: str, now
) -> int | None:
    inserted = conn.execute(
        """INSERT INTO alert_ratings (alert_id, score, comment, rated_by, rated_at, grid_id,
               opened_month)
           VALUES (%s, %s, %s, %s, %s, %s, date_trunc('month', %s AT TIME ZONE %s)::date)
           ON CONFLICT (alert_id, rated_by) DO NOTHING RETURNING rating_id""",
        (
            alert["alert_id"],
            score,
            comment,
            account_id,
            now,
            alert["grid_id"],
            alert["opened_at"],
            DEFAULT_TIME_ZONE,
        ),
    ).fetchone()
    return None if inserted is None else inserted[0]


def _record(conn: psycopg.Connection, alert: dict, *, account_id: int, now, data) -> None:
    record(
        conn,
        alert_id=alert["alert_id"],
        at=now,
        actor=actor_of(account_id),
        kind="rated",
        data=data,
    )


def _page_director(conn: psycopg.Connection, alert: dict, *, now, rating_id: int, data, **_):
    queued = outbox.enqueue_notifications(
        conn,
        alert_id=alert["alert_id"],
        targets=["community_director"],
        step=-1,
        repetition=0,
        now=now,
        key_base=f"rating-{rating_id}",
        about={"low_rating": data},
    )
    record(
        conn,
        alert_id=alert["alert_id"],
        at=now,
        actor="escalation",
        kind="queued",
        data={"targets": queued, "low_rating": data["score"]},
    )


RATED_ALERTS = ratings.Rated("alert", _store, _record, _page_director)
