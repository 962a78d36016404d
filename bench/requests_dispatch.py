"""Requests dispatch: 100,000 open requests with their timers, and the assessment over a year.

1. 100,000 open requests whose grid worker was paged; `--due` of them come due for the
   director's step within a `--window`-second window, the rest later (they wait in the
   index). The escalation loop runs as the service runs it (a pass every second, wall
   clock); printed: p50/p99/max from a step's due time to its notice queued in the outbox
   (the outbox row's own insert time), and that every due step ran exactly once.
2. A backlog: `--backlog` steps all due at once (after an outage), advanced by one loop;
   printed: steps per second.
3. The assessment report (per grid worker, grid, department, category and month) over
   `--year-rows` requests spread over a year; printed: best-of-3 seconds (target: < 2 s).
   Beside the department report, its baseline measured in the same run: the query before
   migration 033, which joined every summoned department to its request.

Everything real: a fresh TimescaleDB database on this machine, the project's migrations.

    python bench/requests_dispatch.py [--open 100000] [--due 2000] [--window 60]
                                      [--backlog 10000] [--year-rows 1000000]
                                      [--only assessment] [--quick]

`--quick` is a tenth of every size (the full run takes several minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

# This checkout first (not whichever one the shared editable install points at).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from alerting import request_ladder  # noqa: E402
from api.requests import reports  # noqa: E402
from bench.timing import best_of  # noqa: E402
from eldercare.migrate import apply_all  # noqa: E402
from tests.support import services  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
GRIDS = 50
CATEGORIES = ["facilities", "heating", "sanitation", "living_help", "safety", "neighbours", "other"]


def make_staff(conn: psycopg.Connection) -> None:
    """One grid worker, director and street officer per grid."""
    conn.execute(
        """INSERT INTO grids (name) SELECT 'bench-grid-' || g FROM generate_series(1, %s) g""",
        (GRIDS,),
    )
    for role in ("grid_worker", "community_director", "street_officer"):
        conn.execute(
            """WITH a AS (
                   INSERT INTO accounts (username, password_hash, role, full_name)
                   SELECT %(role)s || '-' || g.grid_id, 'x', %(role)s, %(role)s || g.grid_id
                   FROM grids g RETURNING account_id, full_name)
               INSERT INTO account_grids (account_id, grid_id)
               SELECT a.account_id, g.grid_id FROM a
               JOIN grids g ON a.full_name = %(role)s || g.grid_id""",
            {"role": role},
        )


def insert_open_requests(
    conn: psycopg.Connection, *, n: int, first_due: datetime, due: int, window_s: float
) -> None:
    """n open requests waiting for the director's step; `due` of them due within the window."""
    rng = np.random.default_rng(7)
    offsets = np.concatenate(
        [np.sort(rng.uniform(0, window_s, due)), rng.uniform(3600, 86400, n - due)]
    )
    steps = conn.execute(
        "SELECT steps FROM escalation_policies WHERE policy_id = 'request_facilities'"
    ).fetchone()[0]
    grid_ids = [r[0] for r in conn.execute("SELECT grid_id FROM grids ORDER BY 1")]
    with (
        conn.cursor() as cur,
        cur.copy(
            """COPY requests (number, grid_id, category, text, channel, opened_at, policy_id,
               policy_steps, esc_step, esc_due_at, updated_at) FROM STDIN"""
        ) as copy,
    ):
        steps_json = json.dumps(steps)
        for i, off in enumerate(offsets):
            due_at = first_due + timedelta(seconds=float(off))
            opened = due_at - timedelta(hours=1)
            copy.write_row(
                (
                    f"B-{i:07d}",
                    grid_ids[i % len(grid_ids)],
                    "facilities",
                    "楼道灯坏了",
                    "hotline",
                    opened,
                    "request_facilities",
                    steps_json,
                    2,  # at rest before the director's step, as the ladder leaves it
                    due_at,
                    opened,
                )
            )
    conn.execute("ANALYZE requests")


def run_loop(database_url: str, stop: threading.Event, passes: list[int]) -> None:
    """The escalation loop as the service runs it: a pass every second on the wall clock."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        while not stop.is_set():
            request_ladder.run_due(conn, now=datetime.now(UTC))
            passes[0] += 1
            stop.wait(1.0)


def dispatch_latency(database_url: str, args) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The outbox row's own insert time, for this benchmark's database only.
        conn.execute(
            "ALTER TABLE outbox ADD COLUMN queued_wall timestamptz DEFAULT clock_timestamp()"
        )
        t = time.perf_counter()
        far = datetime.now(UTC) + timedelta(days=1)
        insert_open_requests(conn, n=args.open, first_due=far, due=args.due, window_s=args.window)
        # Then bring the timers to the wall clock: the first due 5 s from now.
        first_due = datetime.now(UTC) + timedelta(seconds=5)
        shift = first_due - far
        conn.execute(
            """UPDATE requests SET esc_due_at = esc_due_at + %s, opened_at = opened_at + %s,
                      updated_at = updated_at + %s""",
            (shift, shift, shift),
        )
        print(f"inserted {args.open} open requests in {time.perf_counter() - t:.1f} s")
    stop, passes = threading.Event(), [0]
    loop = threading.Thread(target=run_loop, args=(database_url, stop, passes), daemon=True)
    wait_s = (first_due - datetime.now(UTC)).total_seconds() + args.window + 5
    loop.start()
    time.sleep(max(0.0, wait_s))
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 600
        while (
            time.monotonic() < deadline
            and conn.execute("SELECT count(*) FROM requests WHERE esc_due_at <= now()").fetchone()[
                0
            ]
        ):
            time.sleep(0.5)
        stop.set()
        loop.join()
        lat = np.array(
            [
                r[0]
                for r in conn.execute(
                    """SELECT extract(epoch FROM o.queued_wall - (q.opened_at + interval '1 hour'))
                       FROM outbox o JOIN requests q USING (request_id)
                       WHERE o.payload->>'target' = 'community_director'"""
                )
            ],
            dtype=float,
        )
        stepped = conn.execute(
            """SELECT count(*) FROM requests
               WHERE esc_step >= 4 AND opened_at < now() - interval '1 hour'"""
        ).fetchone()[0]
    print(
        f"dispatch: {args.open} open requests, {args.due} due over {args.window:.0f} s, "
        f"{passes[0]} loop passes"
    )
    print(
        f"  director notices queued: {len(lat)} (steps run: {stepped}); due -> queued "
        f"p50 {np.percentile(lat, 50) * 1000:.0f} ms, p99 {np.percentile(lat, 99) * 1000:.0f} ms, "
        f"max {lat.max() * 1000:.0f} ms"
    )


def backlog(database_url: str, args) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        now = datetime.now(UTC)
        # Bring `backlog` of the later timers due now, as after an outage of the loop.
        conn.execute(
            """UPDATE requests SET esc_due_at = %s WHERE request_id IN (
                   SELECT request_id FROM requests WHERE esc_due_at > %s
                   ORDER BY request_id LIMIT %s)""",
            (now, now, args.backlog),
        )
        t = time.perf_counter()
        request_ladder.run_due(conn, now=now + timedelta(seconds=1))
        elapsed = time.perf_counter() - t
    print(
        f"backlog: {args.backlog} due steps advanced in {elapsed:.1f} s "
        f"({args.backlog / elapsed:.0f} steps/s, one loop)"
    )


def insert_year(conn: psycopg.Connection, n: int) -> None:
    """n requests over 2026 with first responses, replies, resolutions, reopens, ratings."""
    conn.execute(
        """INSERT INTO requests (number, grid_id, grid_worker_id, category, text, channel,
               status, opened_at, first_response_at, first_reply_at, reopen_count, last_score,
               policy_id, policy_steps, updated_at)
           SELECT 'Y-' || o.i, g.grid_id, w.account_id, c.category, '楼道灯坏了', 'hotline',
                  CASE WHEN random() < 0.85 THEN 'resolved' ELSE 'acknowledged' END
                      ::request_status,
                  o.opened,
                  CASE WHEN random() < 0.97 THEN o.opened + random() * interval '4 hours' END,
                  CASE WHEN random() < 0.95 THEN o.opened + random() * interval '30 hours' END,
                  (random() < 0.05)::int,
                  CASE WHEN random() < 0.6 THEN 1 + floor(random() * 5)::int END,
                  'request_facilities', '[]', o.opened
           FROM (SELECT i, timestamptz '2026-01-01 00:00+08' + random() * interval '364 days'
                        AS opened
                 FROM generate_series(1, %(n)s) i) o
           JOIN grids g ON g.name = 'bench-grid-' || (1 + o.i %% %(grids)s)
           JOIN account_grids ag ON ag.grid_id = g.grid_id
           JOIN accounts w ON w.account_id = ag.account_id AND w.role = 'grid_worker'
           JOIN (SELECT category, row_number() OVER (ORDER BY category) - 1 AS k
                 FROM request_categories) c ON c.k = o.i %% 7""",
        {"n": n, "grids": GRIDS},
    )
    conn.execute(
        """INSERT INTO request_departments (request_id, department_id, summoned_at, due_at,
               acknowledged_at, reported_at)
           SELECT q.request_id, 1 + q.request_id % 5, q.opened_at, q.opened_at + interval '1 day',
                  q.opened_at + random() * interval '6 hours',
                  CASE WHEN random() < 0.9 THEN q.opened_at + random() * interval '2 days' END
           FROM requests q WHERE q.number LIKE 'Y-%' AND q.request_id % 3 = 0"""
    )
    # As autovacuum leaves them: statistics, and a visibility map for index-only scans.
    conn.execute("VACUUM ANALYZE requests")
    conn.execute("VACUUM ANALYZE request_departments")


# The department report before migration 033: each summoned department joined to its
# request for the request's grid, reopen count and rating (a hash join of a million rows).
DEPARTMENT_BASELINE = """
SELECT rd.department_id AS key, rd.summoned_month AS month,
       extract(epoch FROM rd.acknowledged_at - rd.summoned_at) AS first_s,
       coalesce(rd.reported_at - rd.summoned_at <= interval '24 hours', false) AS answered,
       rd.reported_at IS NOT NULL AS resolved, q.reopen_count > 0 AS reopened,
       q.last_score AS score
FROM request_departments rd JOIN requests q USING (request_id)
WHERE rd.summoned_month BETWEEN %(first)s AND %(last)s
  AND (%(all_grids)s OR q.grid_id = ANY(%(grids)s))"""


def department_baseline(conn: psycopg.Connection) -> list:
    """The department report as it was computed before migration 033."""
    params = {"first": date(2026, 1, 1), "last": date(2026, 12, 1), "all_grids": True, "grids": []}
    with conn.transaction():
        conn.execute("SELECT set_config('work_mem', %s, true)", (reports.WORK_MEM,))
        query = reports._AGGREGATE.format(facts=DEPARTMENT_BASELINE)
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def assessment(database_url: str, args) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        t = time.perf_counter()
        insert_year(conn, args.year_rows)
        total = conn.execute("SELECT count(*) FROM requests WHERE number LIKE 'Y-%'").fetchone()[0]
        print(f"inserted a year of {total} requests in {time.perf_counter() - t:.1f} s")
        for by in reports.GROUPINGS:
            seconds, rows = best_of(
                lambda by=by: reports.assessment(
                    conn, by=by, first=date(2026, 1, 1), last=date(2026, 12, 1), grid_ids=None
                )
            )
            print(
                f"assessment by {by:<11} over a year ({total} requests): {seconds:.2f} s "
                f"best of 3, {len(rows)} rows (target < 2 s)"
            )
        seconds, rows = best_of(lambda: department_baseline(conn))
        print(
            f"baseline: department report before migration 033 (join of every request): "
            f"{seconds:.2f} s best of 3, {len(rows)} rows"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=2_000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--year-rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("assessment",), help="only the year's reports")
    parser.add_argument("--quick", action="store_true", help="a tenth of every size")
    args = parser.parse_args()
    if args.quick:
        for size in ("open", "due", "backlog", "year_rows"):
            setattr(args, size, getattr(args, size) // 10)
        args.window /= 10
    database_url = services.create_database(ADMIN_URL, prefix="eldercare_bench")
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            apply_all(conn)
            make_staff(conn)
        if args.only is None:
            dispatch_latency(database_url, args)
            backlog(database_url, args)
        assessment(database_url, args)
    finally:
        services.drop_database(ADMIN_URL, database_url)


if __name__ == "__main__":
    main()
