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
ZONE = "Asia/Shanghai"

# The facts of each request (or summoned department) that the figures are made of.
_REQUEST_FACTS = """
SELECT {key} AS key, date_trunc('month', q.opened_at AT TIME ZONE '{zone}')::date AS month,
       extract(epoch FROM q.first_response_at - q.opened_at) AS first_s,
       coalesce(q.first_reply_at <= q.opened_at + interval '24 hours', false) AS answered,
       q.status = 'resolved' AS resolved, q.reopen_count > 0 AS reopened,
       q.last_score AS score
FROM requests q
WHERE q.opened_at >= %(since)s AND q.opened_at < %(until)s AND {key} IS NOT NULL
  AND (%(all_grids)s OR q.grid_id = ANY(%(grids)s))"""
_DEPARTMENT_FACTS = """
SELECT rd.department_id AS key,
       date_trunc('month', rd.summoned_at AT TIME ZONE '{zone}')::date AS month,
       extract(epoch FROM rd.acknowledged_at - rd.summoned_at) AS first_s,
       coalesce(rd.reported_at <= rd.summoned_at + interval '24 hours', false) AS answered,
       rd.reported_at IS NOT NULL AS resolved, q.reopen_count > 0 AS reopened,
       q.last_score AS score
FROM request_departments rd JOIN requests q USING (request_id)
WHERE rd.summoned_at >= %(since)s AND rd.summoned_at < %(until)s
  AND (%(all_grids)s OR q.grid_id = ANY(%(grids)s))"""
FACTS = {
    "grid_worker": _REQUEST_FACTS.format(key="q.grid_worker_id", zone=ZONE),
    "grid": _REQUEST_FACTS.format(key="q.grid_id", zone=ZONE),
    "category": _REQUEST_FACTS.format(key="q.category", zone=ZONE),
    "department": _DEPARTMENT_FACTS.format(zone=ZONE),
}
NAMES = {
    "grid_worker": "SELECT account_id::text, full_name FROM accounts WHERE account_id = ANY(%s)",
    "grid": "SELECT grid_id::text, name FROM grids WHERE grid_id = ANY(%s)",
    "department": "SELECT department_id::text, name FROM departments WHERE department_id = ANY(%s)",
}
_AGGREGATE = """
SELECT month, key::text AS key, count(*) AS requests,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_s) AS first_response_median_s,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY first_s) AS first_response_p90_s,
       avg(answered::int) AS answered_24h_share, avg(resolved::int) AS resolution_rate,
       avg(reopened::int) AS reopen_rate, avg(score) AS satisfaction,
       count(score) AS rated
FROM ({facts}) f GROUP BY month, key ORDER BY month, key"""
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
)


def month_range(first: date, last: date) -> tuple[str, str]:
    """[since, until) as Asia/Shanghai timestamps covering the months first..last."""
    until = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    return f"{first:%Y-%m}-01 00:00 {ZONE}", f"{until:%Y-%m-%d} 00:00 {ZONE}"


def assessment(
    conn: psycopg.Connection,
    *,
    by: str,
    first: date,
    last: date,
    grid_ids: tuple[int, ...] | None,
) -> list[dict[str, Any]]:
    """One row per (month, key) with the figures; `grid_ids` None means every grid."""
    since, until = month_range(first, last)
    params = {
        "since": since,
        "until": until,
        "all_grids": grid_ids is None,
        "grids": list(grid_ids or ()),
    }
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_AGGREGATE.format(facts=FACTS[by]), params).fetchall()  # type: ignore[arg-type]
    names: dict[str, str] = {}
    if by in NAMES and rows:
        keys = sorted({int(r["key"]) for r in rows})
        names = {k: n for k, n in conn.execute(NAMES[by], (keys,)).fetchall()}  # type: ignore[arg-type]
    return [
        _rounded({**r, "month": f"{r['month']:%Y-%m}", "name": names.get(r["key"], r["key"])})
        for r in rows
    ]


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
