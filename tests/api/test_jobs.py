"""`eldercare jobs`: band service requests are booked and old location history is deleted,
by supervised loops outside the API process."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
from pydantic import SecretStr

from api.jobs import Jobs
from eldercare.imei import make_imei
from eldercare.loops import Loops
from eldercare.registry import register_devices
from tests.api.test_band_requests import bookings_of, service_request
from tests.support.storage import store_messages
from tests.support.wait import wait_until


def test_jobs_book_band_requests_and_delete_expired_location_history(
    settings, db, make_resident, bind_band
):
    resident = make_resident()
    band = bind_band(resident)
    now = datetime.now(UTC)
    store_messages(db, [service_request(band, "7-1", "meal", now)], settings=settings)
    old = now - timedelta(days=settings.api_location_retention_days + 1)
    db.execute(
        """INSERT INTO location_fixes (device_id, t, lat, lon, acc_m, src, received_at)
           VALUES (%s, %s, 41.1, 122.9, 10, 'gnss', now())""",
        (band, old),
    )
    jobs = Jobs(settings)
    jobs.start()
    try:
        wait_until(lambda: bookings_of(db, band), timeout_s=30)
        fixes = "SELECT 1 FROM location_fixes WHERE device_id = %s"
        wait_until(lambda: db.execute(fixes, (band,)).fetchone() is None, timeout_s=30)
    finally:
        jobs.stop()
    assert bookings_of(db, band) == [(resident, "meal", "band", "requested")]
    assert {t.name for t in jobs.loops.threads} == {
        "band-requests", "rollups", "retention", "care-rollup", "care-warnings",
        "council-escalation",
    }  # fmt: skip


def test_jobs_roll_up_new_vitals_and_drop_old_rolled_up_chunks(settings, own_database_url):
    own = settings.model_copy(
        update={"database_url": SecretStr(own_database_url), "storage_rollup_settle_s": 0.0}
    )
    now = datetime.now(UTC)
    old = now - timedelta(days=own.storage_telemetry_retention_days + 5)
    with psycopg.connect(own_database_url, autocommit=True) as db:
        band = make_imei(16)
        register_devices(db, [band])
        db.cursor().executemany(
            """INSERT INTO telemetry_samples (device_id, t, hr, worn, received_at)
               VALUES (%s, %s, 80, true, now())""",
            [(band, old), (band, now - timedelta(minutes=5))],
        )
        jobs = Jobs(own)
        jobs.start()
        try:
            rolled = "SELECT count(*) FROM telemetry_minute WHERE device_id = %s"
            wait_until(lambda: db.execute(rolled, (band,)).fetchone() == (2,), timeout_s=60)
            # The loop's first retention pass may have come before the roll-up, when the
            # old chunk had to stay; after it, the old chunk goes and the recent one stays.
            jobs.apply_retention(db)
            raw = "SELECT count(*) FROM telemetry_samples WHERE device_id = %s"
            assert db.execute(raw, (band,)).fetchone() == (1,)
        finally:
            jobs.stop()


def test_a_loop_that_fails_is_restarted():
    runs: list[int] = []
    loops = Loops("test")

    def flaky() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise OSError("database went away")
        loops.stopping.wait()

    loops.start({"flaky": flaky})
    try:
        wait_until(lambda: len(runs) >= 2, timeout_s=10)
    finally:
        loops.stop()
    assert all(not t.is_alive() for t in loops.threads)


def test_stopping_ends_every_loop_promptly():
    loops = Loops("test")
    started = threading.Event()

    def idle() -> None:
        started.set()
        loops.stopping.wait()

    loops.start({"idle": idle})
    wait_until(started.is_set, timeout_s=5)
    loops.stop(timeout_s=5)
    assert not loops.threads[0].is_alive()
