"""Roll-ups equal a direct time_bucket aggregate over the raw samples, late rows included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from eldercare.imei import make_imei
from eldercare.registry import register_devices
from ingest.rollups import ROLLUP_LOCK, roll_up

COLUMNS = (
    "count(*)::int, count(hr)::int, sum(hr)::int8, sum(hr::int8 * hr)::int8, min(hr), max(hr),"
    " count(sbp)::int, sum(sbp)::int8, min(sbp), max(sbp), count(dbp)::int, sum(dbp)::int8,"
    " min(dbp), max(dbp), min(steps), max(steps), count(temp_c)::int,"
    " round(sum(temp_c::float8)::numeric, 6), min(temp_c), max(temp_c)"
)
STORED = (
    "n, hr_n, hr_sum, hr_sumsq, hr_min, hr_max, sbp_n, sbp_sum, sbp_min, sbp_max, dbp_n,"
    " dbp_sum, dbp_min, dbp_max, steps_min, steps_max, temp_n, round(temp_sum::numeric, 6),"
    " temp_min, temp_max"
)


def insert_samples(db: psycopg.Connection, rows: list[tuple]) -> None:
    """Store (device, t, hr, sbp, dbp, steps, worn, temp_c) rows the way ingest does."""
    with db.cursor() as cur:
        cur.executemany(
            """INSERT INTO telemetry_samples
                   (device_id, t, hr, sbp, dbp, steps, worn, temp_c, received_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now()) ON CONFLICT DO NOTHING""",
            rows,
        )


def generated(bands: list[str], start: datetime, minutes: int, rng: random.Random) -> list:
    """About one sample a minute per band at irregular seconds, with gaps, nulls, not worn."""
    rows = []
    for band in bands:
        steps = rng.randrange(0, 3000)
        for m in range(minutes):
            for _ in range(rng.choice((0, 1, 1, 1, 2))):
                steps += rng.randrange(0, 40)
                rows.append(
                    (
                        band,
                        start + timedelta(minutes=m, seconds=rng.uniform(0, 59.999)),
                        rng.choice((None, rng.randrange(40, 200))),
                        rng.choice((None, None, rng.randrange(90, 200))),
                        rng.choice((None, None, rng.randrange(50, 120))),
                        steps,
                        rng.choice((True, True, True, None, False)),
                        rng.choice((None, round(rng.uniform(35.5, 38.5), 1))),
                    )
                )
    return rows


def direct(db: psycopg.Connection, width: str, bands: list[str]) -> list[tuple]:
    return db.execute(
        f"""SELECT device_id, time_bucket('1 {width}', t) AS b, {COLUMNS}
            FROM telemetry_samples WHERE device_id = ANY(%s) AND worn IS NOT false
            GROUP BY 1, 2 ORDER BY 1, 2""",
        (bands,),
    ).fetchall()


def rolled(db: psycopg.Connection, width: str, bands: list[str]) -> list[tuple]:
    return db.execute(
        f"SELECT device_id, t, {STORED} FROM telemetry_{width} WHERE device_id = ANY(%s)"
        " ORDER BY 1, 2",
        (bands,),
    ).fetchall()


def roll_up_all(database_url: str) -> None:
    """Run roll-ups until they have caught up."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for _ in range(1000):
            run = roll_up(conn, settle_s=0, max_window_s=3600)
            assert run is not None
            if run.caught_up:
                return
    pytest.fail("roll-ups did not catch up")


def test_rollups_equal_a_direct_aggregate_including_late_and_out_of_order_rows(
    db, database_url, new_band_ids
):
    rng = random.Random(14)
    bands = new_band_ids(3)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    insert_samples(db, generated(bands, start, 180, rng))
    roll_up_all(database_url)
    assert rolled(db, "minute", bands) == direct(db, "minute", bands)

    # Late rows into minutes and hours already rolled up, and new rows, out of order.
    late = generated(bands, start - timedelta(minutes=30), 240, rng)
    rng.shuffle(late)
    insert_samples(db, late[: len(late) // 2])
    insert_samples(db, late[len(late) // 2 :])
    roll_up_all(database_url)
    assert rolled(db, "minute", bands) == direct(db, "minute", bands)
    assert rolled(db, "hour", bands) == direct(db, "hour", bands)
    assert len(rolled(db, "hour", bands)) == 3 * 5  # from half an hour before to after


def test_a_second_run_changes_nothing(db, database_url, new_band_ids):
    bands = new_band_ids(2)
    start = datetime.now(UTC) - timedelta(hours=2)
    insert_samples(db, generated(bands, start, 90, random.Random(7)))
    roll_up_all(database_url)
    before = rolled(db, "minute", bands), rolled(db, "hour", bands)
    with psycopg.connect(database_url, autocommit=True) as conn:
        again = roll_up(conn, settle_s=0, max_window_s=3600)
    assert again is not None and again.minutes == 0 and again.hours == 0
    assert (rolled(db, "minute", bands), rolled(db, "hour", bands)) == before


def test_a_concurrent_run_waits_its_turn_and_misses_nothing(db, database_url, new_band_ids):
    bands = new_band_ids(1)
    insert_samples(
        db, generated(bands, datetime.now(UTC) - timedelta(hours=1), 30, random.Random(3))
    )
    with psycopg.connect(database_url, autocommit=True) as holder, holder.transaction():
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLUP_LOCK,))
        with psycopg.connect(database_url, autocommit=True) as other:
            assert roll_up(other, settle_s=0, max_window_s=3600) is None
    roll_up_all(database_url)
    assert rolled(db, "minute", bands) == direct(db, "minute", bands)


def test_rows_of_a_transaction_still_open_wait_for_the_next_run(db, database_url, new_band_ids):
    band = new_band_ids(1)[0]
    t = datetime.now(UTC) - timedelta(minutes=10)
    with psycopg.connect(database_url) as slow_ingest:
        slow_ingest.execute(
            """INSERT INTO telemetry_samples (device_id, t, hr, worn, received_at)
               VALUES (%s, %s, 77, true, now())""",
            (band, t),
        )
        roll_up_all(database_url)  # its watermark must stay before the open transaction
        slow_ingest.commit()
    assert rolled(db, "minute", [band]) == []
    roll_up_all(database_url)
    assert rolled(db, "minute", [band]) == direct(db, "minute", [band])
    assert len(direct(db, "minute", [band])) == 1


def test_a_run_covers_a_bounded_window_and_later_runs_catch_up(own_database_url):
    with psycopg.connect(own_database_url, autocommit=True) as conn:
        band = make_imei(38)
        register_devices(conn, [band])
        (mark,) = conn.execute(
            "UPDATE telemetry_rollup_watermark SET stored_at = now() - interval '10 minutes'"
            " RETURNING stored_at"
        ).fetchone()
        t = datetime.now(UTC) - timedelta(hours=1)
        for i, stored_after_s in enumerate((1, 90, 200)):  # stored 0.5-3 minutes apart
            conn.execute(
                """INSERT INTO telemetry_samples (device_id, t, hr, worn, received_at, stored_at)
                   VALUES (%s, %s, 70, true, now(), %s)""",
                (band, t + timedelta(minutes=i), mark + timedelta(seconds=stored_after_s)),
            )
        runs = []
        while not runs or not runs[-1].caught_up:
            run = roll_up(conn, settle_s=0, max_window_s=60)
            assert run is not None and len(runs) < 20
            runs.append(run)
        # Ten minutes to catch up, 60 s a run: the rows come in the windows they were stored in.
        assert [r.minutes for r in runs] == [1, 1, 0, 1] + [0] * (len(runs) - 4)
        assert len(runs) >= 10
        assert all(r.until - r.since <= timedelta(seconds=60) for r in runs[:-1])
        assert len(rolled(conn, "minute", [band])) == 3
