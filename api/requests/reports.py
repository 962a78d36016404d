"""Assessment of how requests were handled, per grid worker, grid, department or category
and month (Asia/Shanghai), in one aggregate query each.

The figures (defined once, here):
- first response: the first acknowledgement or public reply after the request opened (for a
  department: its acknowledgement after it was summoned); median and p90 in seconds
  (continuous percentiles over the requests that had one).
- answered in 24 h: share of requests with a public reply within 24 h of opening (for a
  department: its report within 24 h of being summoned); a request never answered counts
  as not answered.
- resolution rate: share resolved now (for a department: share that reported).
- reopen rate: share reopened at least once after a low rating.
- satisfaction: mean of each rated request's latest rating (1-5), and how many were rated.
  Per grid, the ratings of resolved SOS and fall alerts count too (each account's rating,
  in the month the alert opened, in the resident's grid): `alerts_rated` says how many;
  a grid with rated alerts and no requests has a row of its own.
A request counts in the month it opened, for the grid worker paged first, in its grid.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

GROUPINGS = ("grid_worker", "grid", "department", "category")

# The facts of each request (or summoned department) that the figures are made of; the
# requests' facts are generated columns (see migration 030), so this is one lean scan.
_REQUEST_FACTS = """
SELECT {key} AS key, q.opened_month AS month, q.first_response_s AS first_s,
       q.answered_24h AS answered, q.status = 'resolved' AS resolved,
       q.reopen_count > 0 AS reopened, q.last_score AS score
FROM requests q
WHERE q.opened_month BETWEEN %(first)s AND %(last)s AND {key} IS NOT NULL
  AND (%(all_grids)s OR q.grid_id = ANY(%(grids)s))"""
# The request's own facts (grid, reopened, rating) are copied onto the department's row
# (migration 033), so this too is one index-only scan with no join.
_DEPARTMENT_FACTS = """
SELECT rd.department_id AS key, rd.summoned_month AS month,
       extract(epoch FROM rd.acknowledged_at - rd.summoned_at) AS first_s,
       coalesce(rd.reported_at - rd.summoned_at <= interval '24 hours', false) AS answered,
       rd.reported_at IS NOT NULL AS resolved, rd.request_reopened AS reopened,
       rd.request_score AS score
FROM request_departments rd
WHERE rd.summoned_month BETWEEN %(first)s AND %(last)s
  AND (%(all_grids)s OR rd.request_grid_id = ANY(%(grids)s))"""
FACTS = {
    "grid_worker": _REQUEST_FACTS.format(key="q.grid_worker_id"),
    "grid": _REQUEST_FACTS.format(key="q.grid_id"),
    "category": _REQUEST_FACTS.format(key="q.category"),
    "department": _DEPARTMENT_FACTS,
}
NAMES = {
    "grid_worker": "SELECT account_id::text, full_name FROM accounts WHERE account_id = ANY(%s)",
    "grid": "SELECT grid_id::text, name FROM grids WHERE grid_id = ANY(%s)",
    "department": "SELECT department_id::text, name FROM departments WHERE department_id = ANY(%s)",
}
_AGGREGATE = """
SELECT month, key, count(*) AS requests,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_s) AS first_response_median_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY first_s) AS first_response_p90_s,
       avg(answered::int) AS answered_24h_share, avg(resolved::int) AS resolution_rate,
       avg(reopened::int) AS reopen_rate, avg(score) AS satisfaction,
       count(score) AS rated
FROM ({facts}) f GROUP BY month, key ORDER BY month, key"""
# Ratings of resolved SOS and fall alerts, per month and grid (the grid report only).
_ALERT_RATINGS = """
SELECT opened_month AS month, grid_id AS key, count(*) AS rated, sum(score) AS score_sum
FROM alert_ratings
WHERE opened_month BETWEEN %(first)s AND %(last)s AND grid_id IS NOT NULL
  AND (%(all_grids)s OR grid_id = ANY(%(grids)s))
GROUP BY month, key"""
# A year of requests sorts in memory, not in temporary files.
WORK_MEM = "256MB"
COLUMNS = (
    "month",
    "key",
    "name",
    "requests",
    "first_response_median_s",
    "first_response_p90_s",
    "answered_24h_share",
    "resolution_rate",
    "reopen_rate",
    "satisfaction",
    "rated",
    "alerts_rated",
)


def assessment(
    conn: psycopg.Connection,
    *,
    by: str,
    first: date,
    last: date,
    grid_ids: tuple[int, ...] | None,
) -> list[dict[str, Any]]:
    """One row per (month, key) for the months first..last; `grid_ids` None: every grid."""
    params = {
        "first": first.replace(day=1),
        "last": last.replace(day=1),
        "all_grids": grid_ids is None,
        "grids": list(grid_ids or ()),
    }
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT set_config('work_mem', %s, true)", (WORK_MEM,))
        rows = cur.execute(_AGGREGATE.format(facts=FACTS[by]), params).fetchall()  # type: ignore[arg-type]
        if by == "grid":
            alert_rows = cur.execute(_ALERT_RATINGS, params).fetchall()  # type: ignore[arg-type]
            rows = with_alert_ratings(rows, alert_rows)
    names: dict[str, str] = {}
    if by in NAMES and rows:
        keys = sorted({int(r["key"]) for r in rows})
        names = {k: n for k, n in conn.execute(NAMES[by], (keys,)).fetchall()}  # type: ignore[arg-type]
    return [
        _rounded(
            {
                **r,
                "key": str(r["key"]),
                "month": f"{r['month']:%Y-%m}",
                "name": names.get(str(r["key"]), str(r["key"])),
            }
        )
        for r in rows
    ]


def with_alert_ratings(rows: list[dict], alert_rows: list[dict]) -> list[dict]:
    """The request rows with the alert ratings of the same (month, grid) counted in."""
    by_key = {(r["month"], r["key"]): {**r, "alerts_rated": 0} for r in rows}
    for a in alert_rows:
        row = by_key.setdefault((a["month"], a["key"]), _no_requests(a["month"], a["key"]))
        rated = row["rated"] + a["rated"]
        total = float(row["satisfaction"] or 0) * row["rated"] + float(a["score_sum"])
        row.update(satisfaction=total / rated, rated=rated, alerts_rated=a["rated"])
    return [by_key[k] for k in sorted(by_key)]


def _no_requests(month: date, key: int) -> dict[str, Any]:
    empty = dict.fromkeys(COLUMNS[4:], None)
    return {**empty, "month": month, "key": key, "requests": 0, "rated": 0, "alerts_rated": 0}


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    for name in ("answered_24h_share", "resolution_rate", "reopen_rate", "satisfaction"):
        if row[name] is not None:
            row[name] = round(float(row[name]), 4)
    for name in ("first_response_median_s", "first_response_p90_s"):
        if row[name] is not None:
            row[name] = round(float(row[name]), 1)
    return row


def as_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV with a header line (UTF-8 text; Excel-friendly with a BOM added)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
