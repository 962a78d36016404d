"""Killing ingest, restarting or crashing the broker or the database never loses or doubles
a message whose PUBACK the band received."""

from __future__ import annotations

import signal
import time

import orjson
import pytest

from tests.support.mqtt import Publisher, wait_until
from tests.support.processes import spawn_service

pytestmark = pytest.mark.slow


def one_sample_messages(bands: list[str], per_band: int, start_ms: int):
    """(topic, payload) pairs, one sample each, unique (band, t)."""
    for i in range(per_band):
        for band in bands:
            payload = orjson.dumps(
                {
                    "v": 1,
                    "sent_at": start_ms + i * 1000,
                    "samples": [{"t": start_ms + i * 1000, "hr": 60 + i % 40}],
                }
            )
            yield f"eldercare/v1/{band}/telemetry", payload


def wait_until_ingesting(publisher: Publisher, db, band: str, timeout_s: float = 30) -> None:
    """Publish probes until one is stored: ingest consumes now."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        t = int(time.time() * 1000) - 7200_000
        publisher.publish(
            f"eldercare/v1/{band}/telemetry",
            orjson.dumps({"v": 1, "sent_at": t, "samples": [{"t": t, "hr": 70}]}),
        )
        time.sleep(0.3)
        if db.execute("SELECT 1 FROM telemetry_samples WHERE device_id = %s", (band,)).fetchone():
            return
    raise AssertionError("ingest did not start consuming")


def stored_rows(db, bands: list[str]) -> int:
    return db.execute(
        "SELECT count(*) FROM telemetry_samples WHERE device_id = ANY(%s)", (bands,)
    ).fetchone()[0]


def test_sigkill_mid_stream_of_10000_messages_loses_nothing_and_stores_once(
    settings, broker, db, new_band_ids, tmp_path
):
    bands = new_band_ids(20)
    (probe,) = new_band_ids(1)
    ingest = spawn_service(settings, "ingest", log_path=tmp_path / "ingest-1.log")
    publisher = Publisher(broker.url("simulator"))
    try:
        wait_until_ingesting(publisher, db, probe)
        start_ms = int(time.time() * 1000) - 3600_000
        messages = list(one_sample_messages(bands, 500, start_ms))
        assert len(messages) == 10_000
        for n, (topic, payload) in enumerate(messages):
            publisher.publish(topic, payload)
            if n == 3000:
                wait_until(lambda: stored_rows(db, bands) > 500, timeout_s=30)
                ingest.send_signal(signal.SIGKILL)
                ingest.wait()
        publisher.wait_all_acked()
        stored_at_kill = stored_rows(db, bands)
        assert stored_at_kill < 10_000  # the kill really was mid-stream

        ingest = spawn_service(settings, "ingest", log_path=tmp_path / "ingest-2.log")
        wait_until(lambda: stored_rows(db, bands) >= 10_000, timeout_s=120, interval_s=0.5)
        time.sleep(1.0)  # redelivered duplicates, if any, commit now
        assert stored_rows(db, bands) == 10_000
        per_band = db.execute(
            "SELECT count(DISTINCT t) FROM telemetry_samples WHERE device_id = ANY(%s) "
            "GROUP BY device_id",
            (bands,),
        ).fetchall()
        assert sorted(n for (n,) in per_band) == [500] * 20
    finally:
        publisher.close()
        ingest.terminate()
        ingest.wait(timeout=30)


def test_backlog_published_while_ingest_is_down_arrives_after_restart(
    settings, broker, db, new_band_ids, tmp_path
):
    bands = new_band_ids(5)
    (probe,) = new_band_ids(1)
    ingest = spawn_service(settings, "ingest", log_path=tmp_path / "ingest-a.log")
    publisher = Publisher(broker.url("simulator"))
    try:
        wait_until_ingesting(publisher, db, probe)
        start_ms = int(time.time() * 1000) - 3600_000
        messages = list(one_sample_messages(bands, 200, start_ms))
        first, backlog = messages[:100], messages[100:]
        for topic, payload in first:
            publisher.publish(topic, payload)
        wait_until(lambda: stored_rows(db, bands) == 100, timeout_s=30)

        ingest.send_signal(signal.SIGTERM)
        assert ingest.wait(timeout=30) == 0
        for topic, payload in backlog:
            publisher.publish(topic, payload)
        publisher.wait_all_acked()
        time.sleep(0.5)
        assert stored_rows(db, bands) == 100  # nobody is consuming

        ingest = spawn_service(settings, "ingest", log_path=tmp_path / "ingest-b.log")
        wait_until(lambda: stored_rows(db, bands) == 1000, timeout_s=60, interval_s=0.25)
    finally:
        publisher.close()
        ingest.terminate()
        ingest.wait(timeout=30)


def test_postgres_restart_mid_stream_loses_nothing(settings, broker, tmp_path):
    import psycopg

    from eldercare.imei import make_imei
    from eldercare.migrate import apply_all
    from eldercare.registry import register_devices
    from tests.support import services
    from tests.support.pg_cluster import ThrowawayPostgres

    pg = ThrowawayPostgres()
    pg.init()
    pg.start()
    try:
        url = services.create_database(pg.admin_url)
        with psycopg.connect(url) as conn:
            apply_all(conn)
            bands = [make_imei(900_000 + i) for i in range(10)]
            probe = make_imei(900_100)
            register_devices(conn, [*bands, probe])
            conn.commit()
        own = settings.model_copy(
            update={
                "database_url": url,
                "ingest_client_id": "ingest-pgrestart",
                # its own queue: the suite's queue holds messages for the suite's database
                "ingest_queue": "ingest-pgrestart",
            }
        )
        ingest = spawn_service(own, "ingest", log_path=tmp_path / "ingest.log")
        publisher = Publisher(broker.url("simulator"))
        try:
            with psycopg.connect(url, autocommit=True) as db:
                wait_until_ingesting(publisher, db, probe)
            messages = list(one_sample_messages(bands, 300, int(time.time() * 1000) - 3600_000))
            with psycopg.connect(url, autocommit=True) as db:
                for topic, payload in messages[:1000]:
                    publisher.publish(topic, payload)
                wait_until(lambda: stored_rows(db, bands) > 300, timeout_s=30)
            pg.stop("immediate")  # a crash, not a polite shutdown
            for topic, payload in messages[1000:]:
                publisher.publish(topic, payload)
            publisher.wait_all_acked()
            time.sleep(2.0)
            pg.start()
            with psycopg.connect(url, autocommit=True) as db:
                wait_until(lambda: stored_rows(db, bands) >= 3000, timeout_s=90, interval_s=0.5)
                time.sleep(1.0)
                assert stored_rows(db, bands) == 3000
            assert "database unavailable" in (tmp_path / "ingest.log").read_text()
        finally:
            publisher.close()
            ingest.terminate()
            ingest.wait(timeout=30)
    finally:
        pg.remove()


def test_a_stopped_ingest_process_leaves_its_share_to_the_others(
    settings, broker, db, new_band_ids, tmp_path
):
    """Scale 2 -> 1: competing consumers of one queue; nothing waits for the stopped one."""
    bands = new_band_ids(4)
    (probe,) = new_band_ids(1)
    own = settings.model_copy(update={"ingest_queue": "ingest-scale-down"})
    keep = spawn_service(own, "ingest", log_path=tmp_path / "keep.log", ingest_client_id="keep")
    gone = spawn_service(own, "ingest", log_path=tmp_path / "gone.log", ingest_client_id="gone")
    publisher = Publisher(broker.url("simulator"))
    try:
        wait_until_ingesting(publisher, db, probe)
        messages = list(one_sample_messages(bands, 100, int(time.time() * 1000) - 3600_000))
        for topic, payload in messages[:200]:
            publisher.publish(topic, payload)
        publisher.wait_all_acked()
        wait_until(lambda: stored_rows(db, bands) == 200, timeout_s=30)

        gone.send_signal(signal.SIGTERM)
        assert gone.wait(timeout=30) == 0
        for topic, payload in messages[200:]:
            publisher.publish(topic, payload)
        publisher.wait_all_acked()
        wait_until(lambda: stored_rows(db, bands) == 400, timeout_s=30)
    finally:
        publisher.close()
        keep.terminate()
        keep.wait(timeout=30)


def test_messages_published_before_ingest_first_starts_are_kept(
    settings, broker, db, new_band_ids, tmp_path
):
    """The broker set-up declares ingest's queue, so the very first messages are not lost."""
    (band,) = new_band_ids(1)
    own = settings.model_copy(update={"ingest_queue": "ingest-first-start"})
    broker.admin.declare_ingest_queue("ingest-first-start", 3)
    publisher = Publisher(broker.url("simulator"))
    try:
        for topic, payload in one_sample_messages([band], 50, int(time.time() * 1000) - 60_000):
            publisher.publish(topic, payload)
        publisher.wait_all_acked()
        ingest = spawn_service(own, "ingest", log_path=tmp_path / "ingest.log")
        try:
            wait_until(lambda: stored_rows(db, [band]) == 50, timeout_s=30)
        finally:
            ingest.terminate()
            ingest.wait(timeout=30)
    finally:
        publisher.close()
