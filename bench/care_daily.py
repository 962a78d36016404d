"""The daily check list for a whole community: 20,000 residents with 30 days of band data.

Sets up a throwaway database with N residents (each with a band and a home), 30 days of
samples per band (one every `--interval-s`, default two hours; real bands send one a minute,
see below) and a few residents per reason, then times, with an admin's view of everyone:

  job    the rollup job of `eldercare jobs` (api.care.rollup.advance): its first run (the
         window from scratch), a run after a day's new data, and a 5-minute run
  list   GET /care/daily's work: read the stored rollups, compute, explain (3 times)
  base   the baseline, as the list was before the job: today rolled up again from raw
         samples inside the request, then the list

The rollup of a day's data grows with the band's sample rate: multiply by 60 /
samples-per-hour for minute samples.

    .venv/bin/python bench/care_daily.py [--residents 20000] [--interval-s 7200] [--quick]

Environment: ELDERCARE_BENCH_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from api.care import rollup, service  # noqa: E402
from api.care.daily import WINDOW_DAYS  # noqa: E402
from api.deps import Principal  # noqa: E402
from eldercare.imei import make_imei  # noqa: E402
from eldercare.migrate import apply_all  # noqa: E402
from simulators.history import Plan, copy_samples, samples  # noqa: E402

ADMIN_URL = os.environ.get(
    "ELDERCARE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ZONE = ZoneInfo("Asia/Shanghai")
CHUNK = 2000


def populate(url: str, residents: int, interval_s: int, now: datetime) -> tuple[int, int]:
    """Residents, bands, an admin account and 30 days of samples; (admin id, samples)."""
    rng = np.random.default_rng(20_000)
    first_day = (now.astimezone(ZONE) - timedelta(days=WINDOW_DAYS - 1)).date()
    total = 0
    with psycopg.connect(url, autocommit=True) as db:
        admin = db.execute(
            "INSERT INTO accounts (username, password_hash, role) VALUES ('bench', 'x', 'admin')"
            " RETURNING account_id"
        ).fetchone()[0]
        ids = db.execute(
            """INSERT INTO residents (full_name, home_lat, home_lon)
               SELECT 'resident ' || i, 41.8, 123.4 FROM generate_series(1, %s) i
               RETURNING resident_id""",
            (residents,),
        ).fetchall()
        imeis = [make_imei(i) for i in range(residents)]
        db.execute(
            """INSERT INTO devices (device_id, resident_id)
               SELECT unnest(%s::text[]), unnest(%s::bigint[])""",
            (imeis, [r[0] for r in ids]),
        )
        for start in range(0, residents, CHUNK):
            chunk = imeis[start : start + CHUNK]
            plan = Plan.healthy(len(chunk), WINDOW_DAYS, rng)
            until = np.full(len(chunk), now.timestamp())
            # A few percent of residents per reason, so the list has work to do.
            pick = rng.random(len(chunk))
            until[pick < 0.02] = (now - timedelta(hours=30)).timestamp()
            plan.worn_fraction[(pick >= 0.02) & (pick < 0.04), -2] = 0.2
            plan.steps[(pick >= 0.04) & (pick < 0.06), -4:-1] = 800
            plan.hr[(pick >= 0.06) & (pick < 0.08), -4:-1] += 20
            frame = samples(
                chunk, plan, first_day=first_day, zone=ZONE, interval_s=interval_s,
                until=until, rng=rng,
            )  # fmt: skip
            total += copy_samples(db, frame)
        db.execute("ANALYZE telemetry_samples")
    return admin, total


async def _connect(url: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def timed_list(url: str, admin: int, now: datetime) -> tuple[float, list[dict]]:
    """Seconds for the daily list, and the list."""
    async with await _connect(url) as conn:
        start = time.perf_counter()
        items = await service.daily_list(
            conn=conn, principal=Principal(admin, "admin", ()), now=now, locale="zh_CN"
        )
        return time.perf_counter() - start, items


async def timed_job(url: str, now: datetime) -> tuple[float, rollup.RollupRun]:
    """Seconds for one run of the rollup job at `now`, and what it did."""
    async with await _connect(url) as conn:
        start = time.perf_counter()
        run = await rollup.advance(
            conn=conn, now=now, zone=ZONE, days=WINDOW_DAYS, lag=timedelta(seconds=60)
        )
        return time.perf_counter() - start, run


async def baseline(url: str, admin: int, now: datetime) -> float:
    """Seconds for the list as it was: today rolled up from raw in the request, then read."""
    async with await _connect(url) as conn:
        await conn.execute(
            "DELETE FROM care_rollup_days WHERE day = %s", (now.astimezone(ZONE).date(),)
        )
    job_s, _ = await timed_job(url, now)
    list_s, _ = await timed_list(url, admin, now)
    return job_s + list_s


def new_minutes(url: str, at: datetime) -> int:
    """One sample per band stored at `at` (what 5 minutes bring at one sample per 5 min)."""
    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(
            """INSERT INTO telemetry_samples (device_id, t, hr, steps, worn, received_at)
               SELECT device_id, %s, 70, 4000, true, %s FROM devices""",
            (at, at),
        ).rowcount


def job_report(label: str, seconds: float, run: rollup.RollupRun) -> None:
    whole = ", ".join(d.isoformat() for d in run.whole_days) if len(run.whole_days) < 4 else (
        f"{len(run.whole_days)} days")  # fmt: skip
    print(
        f"job    {label:<34} {seconds:7.2f} s   {run.merged_rows:7,d} rows merged, "
        f"whole: {whole or 'none'}"
    )


def run_all(url: str, admin: int, now: datetime) -> list[dict]:
    """Every timing; the list's items."""
    day_before = now - timedelta(days=1)
    job_report("first run (window from scratch)", *asyncio.run(timed_job(url, day_before)))
    job_report("after a day's new data", *asyncio.run(timed_job(url, now)))
    later = now + timedelta(minutes=2)
    times = []
    for _ in range(3):
        seconds, items = asyncio.run(timed_list(url, admin, later))
        times.append(seconds)
        print(f"list   reads stored rollups only         {seconds:7.2f} s   {len(items):,} listed")
    base = asyncio.run(baseline(url, admin, later))
    print(f"base   today rolled up in the request    {base:7.2f} s")
    stored = new_minutes(url, now + timedelta(minutes=3))
    job_report(f"5 min later ({stored:,} new samples)",
               *asyncio.run(timed_job(url, now + timedelta(minutes=5))))  # fmt: skip
    print(f"list worst {max(times):.2f} s (target < 10 s), baseline {base:.2f} s, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--interval-s", type=int, default=7200)
    parser.add_argument("--quick", action="store_true", help="2,000 residents (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.residents = 2000
    name = f"bench_care_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin_conn:
        admin_conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            apply_all(conn)
        now = datetime(2026, 11, 20, 10, 0, tzinfo=ZONE).astimezone(UTC)
        start = time.perf_counter()
        admin, total = populate(url, args.residents, args.interval_s, now)
        print(
            f"{args.residents} residents, {total:,} samples over {WINDOW_DAYS} days "
            f"(one per {args.interval_s} s), stored in {time.perf_counter() - start:.0f} s"
        )
        print(f"load average at start {os.getloadavg()[0]:.1f}")
        items = run_all(url, admin, now)
        codes: dict[str, int] = {}
        for item in items:
            for reason in item["reasons"]:
                codes[reason["code"]] = codes.get(reason["code"], 0) + 1
        print("reasons:", ", ".join(f"{k} {v}" for k, v in sorted(codes.items())))
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin_conn:
            admin_conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
