"""Satisfaction ratings after a resolution: one rule for residents' requests and for
resolved SOS and fall alerts.

The requester's side rates 1-5 with a comment, once (per resolution of a request; per
account for an alert). The rating goes on the object's timeline, and a rating of
LOW_AT_OR_BELOW or less goes to the community director: a request is reopened at its
ladder's director step, an alert's director is paged. What differs per object is in its
`Rated`; the rule is here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from api.errors import Conflict
from eldercare.i18n import text

# A rating this low (or lower) goes to the community director.
LOW_AT_OR_BELOW = 2


@dataclass(frozen=True)
class Rated:
    """What can be rated, and how its ratings are kept.

    `store(conn, obj, account_id=, score=, comment=, now=)` keeps the rating and returns its
    id, or None if this one was rated already; `record(conn, obj, account_id=, now=, data=)`
    puts it on the timeline; `escalate(conn, obj, account_id=, now=, rating_id=, data=)`
    takes a low rating to the director.
    """

    kind: str
    store: Callable[..., int | None]
    record: Callable[..., object]
    escalate: Callable[..., object]


def rate(
    conn: psycopg.Connection,
    rated: Rated,
    obj: dict[str, Any],
    *,
    account_id: int,
    score: int,
    comment: str,
    now: datetime,
) -> bool:
    """Keep a rating of `obj` (locked and checked by the caller); True if it went to the
    director. A second rating of the same thing is a Conflict."""
    rating_id = rated.store(conn, obj, account_id=account_id, score=score, comment=comment, now=now)
    if rating_id is None:
        raise Conflict(text("rating.error.already_rated"), kind=rated.kind)
    said = {"score": score, "comment": comment}
    rated.record(conn, obj, account_id=account_id, now=now, data=said)
    if score > LOW_AT_OR_BELOW:
        return False
    rated.escalate(conn, obj, account_id=account_id, now=now, rating_id=rating_id, data=said)
    return True
