"""Retention drops whole chunks past their age, keeps recent ones, and never drops raw samples
that are not yet rolled up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from eldercare.imei import make_imei
from eldercare.registry import register_devices
from ingest.retention import drop_expired, drop_expired_telemetry
from ingest.rollups import roll_up

NOW = datetime.now(UTC).replace(microsecond=0)


def store(conn: psycopg.Connection, band: str, *times: datetime) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO telemetry_samples (device_id, t, hr, worn, received_at)
               VALUES (%s, %s, 72, true, now())""",
            [(band, t) for t in times],
        )


def samples_at(conn: psycopg.Connection, band: str) -> set[datetime]:
    rows = conn.execute("SELECT t FROM telemetry_samples WHERE device_id = %s", (band,))
    return {t for (t,) in rows}


def minutes_at(conn: psycopg.Connection, band: str) -> set[datetime]:
    rows = conn.execute("SELECT t FROM telemetry_minute WHERE device_id = %s", (band,))
    return {t for (t,) in rows}


def test_retention_drops_old_rolled_up_chunks_and_keeps_recent_and_unrolled_ones(
    own_database_url,
):
    with psycopg.connect(own_database_url, autocommit=True) as conn:
        band = make_imei(14)
        register_devices(conn, [band])
        old, recent = NOW - timedelta(days=40), NOW - timedelta(days=2)
        store(conn, band, old, recent)
        assert roll_up(conn, settle_s=0, max_window_s=3600) is not None
        late = NOW - timedelta(days=35)  # arrives late, not rolled up yet
        store(conn, band, late)

        dropped = drop_expired_telemetry(conn, retention_days=30, now=NOW)
        assert dropped == 1  # the 40-day-old chunk; the 35-day-old one waits for its roll-up
        assert samples_at(conn, band) == {late, recent}

        assert roll_up(conn, settle_s=0, max_window_s=3600) is not None
        assert drop_expired_telemetry(conn, retention_days=30, now=NOW) == 1
        assert samples_at(conn, band) == {recent}
        # The figures outlive the raw samples.
        assert minutes_at(conn, band) == {t.replace(second=0) for t in (old, late, recent)}


def test_roll_ups_and_events_have_their_own_retention(own_database_url):
    with psycopg.connect(own_database_url, autocommit=True) as conn:
        band = make_imei(15)
        register_devices(conn, [band])
        store(conn, band, NOW - timedelta(days=400), NOW - timedelta(days=100))
        assert roll_up(conn, settle_s=0, max_window_s=3600) is not None
        assert drop_expired(conn, table="telemetry_minute", retention_days=180, now=NOW) == 1
        assert len(minutes_at(conn, band)) == 1
        hours = "SELECT count(*) FROM telemetry_hour WHERE device_id = %s"
        assert conn.execute(hours, (band,)).fetchone() == (2,)

        for event_id, age_days in (("old", 400), ("recent", 100)):
            conn.execute(
                """INSERT INTO device_events (device_id, event_id, t, type, received_at)
                   VALUES (%s, %s, %s, 'sos', now())""",
                (band, event_id, NOW - timedelta(days=age_days)),
            )
        assert drop_expired(conn, table="device_events", retention_days=365, now=NOW) == 1
        events = conn.execute("SELECT event_id FROM device_events WHERE device_id = %s", (band,))
        assert events.fetchall() == [("recent",)]
