"""Storage cost per band per day: raw telemetry, location fixes and the vitals roll-ups.

Sets up a throwaway database, stores one day of one sample and one fix a minute for N bands
(heart rate every sample, blood pressure every 30 minutes, the step counter, worn), rolls the
day up with the project's own job (`ingest.rollups`), vacuums, and prints each table's size
(TimescaleDB `hypertable_size`: heap, indexes, TOAST) per band per day. Beside them, in the
same run: raw telemetry as stored before migration 038 (no `stored_at` column, no BRIN
index). The Apache build of TimescaleDB has no compression, so every figure is uncompressed.

    .venv/bin/python bench/storage_cost.py [--bands 2000] [--quick]

Environment: ELDERCARE_BENCH_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402

from eldercare.imei import make_imei  # noqa: E402
from eldercare.migrate import apply_all  # noqa: E402
from eldercare.registry import register_devices  # noqa: E402
from ingest.rollups import roll_up  # noqa: E402

ADMIN_URL = os.environ.get(
    "ELDERCARE_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DAY = datetime(2026, 11, 20, tzinfo=UTC)
MINUTES = 24 * 60

# The table as it was before migration 038, for the baseline.
_BEFORE = """
CREATE TABLE telemetry_before (LIKE telemetry_samples);
ALTER TABLE telemetry_before DROP COLUMN stored_at;
SELECT create_hypertable('telemetry_before', 't', chunk_time_interval => interval '1 day');
CREATE UNIQUE INDEX telemetry_before_device_t_key ON telemetry_before (device_id, t);
"""


def store_day(conn: psycopg.Connection, bands: list[str], rng: np.random.Generator) -> None:
    """One sample and one fix a minute per band, at each band's own second of the minute."""
    received = DAY + timedelta(days=1)
    for band in bands:
        offset_s = rng.uniform(0, 60)
        times = [DAY + timedelta(minutes=m, seconds=offset_s) for m in range(MINUTES)]
        hr = rng.integers(55, 110, MINUTES)
        steps = np.cumsum(rng.integers(0, 30, MINUTES))
        lat = 41.108 + rng.normal(0, 0.0005, MINUTES)
        lon = 122.994 + rng.normal(0, 0.0005, MINUTES)
        with conn.cursor() as cur:
            with cur.copy(
                "COPY telemetry_samples (device_id, t, hr, sbp, dbp, steps, worn, received_at)"
                " FROM STDIN"
            ) as copy:
                for m, t in enumerate(times):
                    bp = (int(rng.integers(110, 160)), int(rng.integers(65, 95)))
                    sbp, dbp = bp if m % 30 == 0 else (None, None)
                    copy.write_row((band, t, int(hr[m]), sbp, dbp, int(steps[m]), True, received))
            with cur.copy(
                "COPY location_fixes (device_id, t, lat, lon, acc_m, src, received_at) FROM STDIN"
            ) as copy:
                for m, t in enumerate(times):
                    copy.write_row((band, t, lat[m], lon[m], 15.0, "gnss", received))


def sizes(conn: psycopg.Connection, tables: list[str]) -> dict[str, int]:
    return {
        table: conn.execute("SELECT hypertable_size(%s::regclass)", (table,)).fetchone()[0]  # type: ignore[index]
        for table in tables
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bands", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 bands")
    args = parser.parse_args()
    n = 200 if args.quick else args.bands
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    name = f"bench_storage_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            apply_all(conn)
            bands = [make_imei(s) for s in range(1, n + 1)]
            register_devices(conn, bands)
            started = time.perf_counter()
            store_day(conn, bands, np.random.default_rng(38))
            stored_s = time.perf_counter() - started
            started = time.perf_counter()
            run = roll_up(conn, settle_s=0, max_window_s=86400)
            rolled_s = time.perf_counter() - started
            conn.execute(_BEFORE)
            conn.execute(
                "INSERT INTO telemetry_before SELECT device_id, t, hr, sbp, dbp, steps, worn,"
                " received_at, temp_c FROM telemetry_samples"
            )
            conn.execute("VACUUM ANALYZE")
            tables = [
                "telemetry_before",
                "telemetry_samples",
                "location_fixes",
                "telemetry_minute",
                "telemetry_hour",
            ]
            measured = sizes(conn, tables)
        print(
            f"{n} bands x 1 day, one sample and one fix a minute: stored in {stored_s:.1f} s,"
            f" rolled up in {rolled_s:.1f} s ({run.minutes if run else 0:,} minutes)"
        )
        print(f"{'table':<34}{'bytes/band/day':>16}{'MB/band/year':>14}")
        for table in tables:
            per_band = measured[table] / n
            label = {"telemetry_before": "telemetry_samples before 038"}.get(table, table)
            print(f"{label:<34}{per_band:>16,.0f}{per_band * 365 / 2**20:>14.1f}")
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
