"""The daily check list for a whole community: 20,000 residents with 30 days of band data.

Sets up a throwaway database with N residents (each with a band and a home), 30 days of
samples per band (one every `--interval-s`, default two hours; real bands send one a minute,
see below) and a few residents per reason, then times, with an admin's view of everyone:

  cold   the first list of the day on an empty rollup: all 30 days rolled up, then the list
  warm   the list as staff open it during the day: today's rollup is stale and redone
  fresh  the list when every rollup is fresh: read 30 days of rollups, compute, explain

and, beside them, the rollup of one day from raw samples alone (the part that grows with the
band's sample rate: multiply by 60 / samples-per-hour for minute samples).

    .venv/bin/python bench/care_daily.py [--residents 20000] [--interval-s 3600]

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


async def timed(label: str, url: str, admin: int, now: datetime) -> list[dict]:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        start = time.perf_counter()
        items = await service.daily_list(
            conn=conn, principal=Principal(admin, "admin", ()), now=now, locale="zh_CN"
        )
        elapsed = time.perf_counter() - start
    print(f"{label:<6} {elapsed:7.2f} s   {len(items):6d} residents on the list")
    return items


async def one_day_rollup(url: str, now: datetime) -> float:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        await conn.execute("DELETE FROM care_rollup_days")
        start = time.perf_counter()
        await rollup.refresh(
            conn=conn, today=now.astimezone(ZONE).date(), days=1, now=now, zone=ZONE
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--interval-s", type=int, default=7200)
    args = parser.parse_args()
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
        items = asyncio.run(timed("cold", url, admin, now))
        asyncio.run(timed("warm", url, admin, now + timedelta(minutes=11)))
        asyncio.run(timed("fresh", url, admin, now + timedelta(minutes=12)))
        day_s = asyncio.run(one_day_rollup(url, now + timedelta(minutes=13)))
        per_day = args.residents * 86400 // args.interval_s
        print(f"rollup of one day from raw ({per_day:,} samples): {day_s:.2f} s")
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
