"""Where a request goes: its grid (from the resident, the point or the address) and its
category (staff keyword rules plus a classifier trained on staff-set categories).

The classifier: jieba segments the Chinese text into words, a multinomial naive Bayes over
word counts (scikit-learn) gives each category a probability. It is small and explainable
(the words that weigh most are the ones shown with the suggestion) and retrains in well
under a second on thousands of labels, so it is rebuilt whenever the labels have changed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

import jieba
import numpy as np
import psycopg
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB

from alerting.geo.fences import INSIDE, FenceSpec, build_fence_set, classify_points

log = logging.getLogger(__name__)
jieba.setLogLevel(logging.WARNING)

DEFAULT_CATEGORY = "other"
# A keyword rule's hit adds this to its category's probability: staff rules win over a weak
# classifier, a confident classifier over a single stray keyword.
RULE_WEIGHT = 0.5


def grid_of(
    conn: psycopg.Connection,
    *,
    resident_grid: int | None,
    lat: float | None,
    lon: float | None,
    address: str,
    creator_grids: tuple[int, ...] = (),
) -> int | None:
    """The grid a request belongs to: the point's grid polygon, else the resident's grid,
    else a resident's at the same address, else the creator's only grid."""
    if lat is not None and lon is not None:
        found = grid_at_point(conn, lat=lat, lon=lon)
        if found is not None:
            return found
    if resident_grid is not None:
        return resident_grid
    if address:
        row = conn.execute(
            """SELECT grid_id FROM residents WHERE address = %s AND grid_id IS NOT NULL
               GROUP BY grid_id ORDER BY count(*) DESC, grid_id LIMIT 1""",
            (address,),
        ).fetchone()
        if row is not None:
            return row[0]
    return creator_grids[0] if len(creator_grids) == 1 else None


def grid_at_point(conn: psycopg.Connection, *, lat: float, lon: float) -> int | None:
    """The grid whose polygon holds the point (WGS-84), or None."""
    rows = conn.execute("SELECT grid_id, polygon FROM grid_areas ORDER BY grid_id").fetchall()
    if not rows:
        return None
    fences = build_fence_set(
        [FenceSpec(fence_id=g, resident_id=0, shape="polygon", ring=ring) for g, ring in rows]
    )
    n = len(rows)
    state = classify_points(fences, np.arange(n), np.full(n, lat), np.full(n, lon), np.zeros(n))
    inside = np.flatnonzero(state == INSIDE)
    return int(fences.fence_ids[inside[0]]) if len(inside) else None


def words(text: str) -> list[str]:
    """The words of a Chinese text (jieba), without punctuation and spaces."""
    return [w for w in jieba.lcut(text) if w.strip() and any(ch.isalnum() for ch in w)]


@dataclass(frozen=True)
class _Model:
    version: tuple
    vectorizer: CountVectorizer
    nb: MultinomialNB


_cache: dict[str, _Model] = {}
_cache_lock = threading.Lock()


def _model(conn: psycopg.Connection) -> _Model | None:
    version = conn.execute(
        """SELECT count(*), coalesce(max(labelled_at), 'epoch'),
                  coalesce(sum(request_id * hashtext(category)::bigint), 0)
           FROM request_labels"""
    ).fetchone()
    with _cache_lock:
        cached = _cache.get("model")
        if cached is not None and cached.version == tuple(version or ()):
            return cached
    rows = conn.execute("SELECT text, category FROM request_labels ORDER BY request_id").fetchall()
    if len({c for _, c in rows}) < 2:
        return None
    vectorizer = CountVectorizer(analyzer=words)
    nb = MultinomialNB(alpha=0.5).fit(
        vectorizer.fit_transform([t for t, _ in rows]), [c for _, c in rows]
    )
    model = _Model(tuple(version or ()), vectorizer, nb)
    with _cache_lock:
        _cache["model"] = model
    return model


def suggest(conn: psycopg.Connection, *, text: str) -> dict:
    """The suggested category with its confidence (0-1), the rules hit and the model's view."""
    hits = conn.execute(
        """SELECT keyword, category FROM request_keyword_rules
           WHERE strpos(%s, keyword) > 0 ORDER BY rule_id""",
        (text,),
    ).fetchall()
    scores: dict[str, float] = {}
    model = _model(conn)
    if model is not None:
        probs = model.nb.predict_proba(model.vectorizer.transform([text]))[0]
        scores = {str(c): float(p) for c, p in zip(model.nb.classes_, probs, strict=True)}
    ruled = {c for _, c in hits}
    combined = {
        c: scores.get(c, 0.0) + (RULE_WEIGHT if c in ruled else 0.0) for c in set(scores) | ruled
    }
    if not combined:
        return {
            "category": DEFAULT_CATEGORY,
            "confidence": 0.0,
            "source": "default",
            "rules": [],
            "model": {},
        }
    best = max(sorted(combined), key=lambda c: combined[c])
    total = sum(combined.values())
    source = "rules+model" if best in ruled and model else "rules" if best in ruled else "model"
    return {
        "category": best,
        "confidence": round(combined[best] / total, 3) if total else 0.0,
        "source": source,
        "rules": [{"keyword": k, "category": c} for k, c in hits],
        "model": {c: round(p, 3) for c, p in sorted(scores.items(), key=lambda kv: -kv[1])[:3]},
    }


def keep_label(
    conn: psycopg.Connection,
    *,
    request_id: int,
    text: str,
    category: str,
    account_id: int | None,
    now: datetime,
) -> None:
    """Keep a staff-set category as training data (the latest one per request counts)."""
    conn.execute(
        """INSERT INTO request_labels (request_id, text, category, labelled_by, labelled_at)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (request_id) DO UPDATE SET category = EXCLUDED.category,
               labelled_by = EXCLUDED.labelled_by, labelled_at = EXCLUDED.labelled_at""",
        (request_id, text, category, account_id, now),
    )
