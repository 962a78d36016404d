"""A message whose PUBACK a band received is stored exactly once, whatever restarts: the
broker (clean stop and SIGKILL), ingest (SIGKILL) and PostgreSQL (crash), alone or together.

Counted by what the publisher saw acknowledged: lost = acknowledged but not stored;
duplicated = stored more than once; unexpected = stored but never published.
"""

from __future__ import annotations

import contextlib
import signal
import time

import orjson
import psycopg
import pytest

from eldercare import topics
from tests.ingest.test_crash_safety import wait_until_ingesting
from tests.support.mqtt import CountingPublisher, Publisher, wait_until
from tests.support.processes import spawn_service

pytestmark = pytest.mark.slow


def sample(band: str, t_ms: int) -> tuple[str, bytes]:
    body = {"v": 1, "sent_at": t_ms, "samples": [{"t": t_ms, "hr": 60 + t_ms // 1000 % 40}]}
    return topics.uplink(band, "telemetry"), orjson.dumps(body)


def stored_keys(db, bands: list[str]) -> list[tuple[str, int]]:
    """(band, t in ms) of every stored sample of these bands, repeats included."""
    rows = db.execute(
        "SELECT device_id, (extract(epoch FROM t) * 1000)::bigint FROM telemetry_samples "
        "WHERE device_id = ANY(%s)",
        (bands,),
    ).fetchall()
    return [(band, int(t)) for band, t in rows]


def tally(acked: set, published: set, stored: list) -> dict[str, int]:
    distinct = set(stored)
    return {
        "lost": len(acked - distinct),
        "duplicated": len(stored) - len(distinct),
        "unexpected": len(distinct - published),
    }


def wait_stored(db_of, bands, acked: set, timeout_s: float) -> list:
    """Wait until every acknowledged message is stored (or time is up); return what is."""
    with contextlib.suppress(AssertionError):  # the tally then says how many are missing
        wait_until(lambda: acked <= set(stored_keys(db_of(), bands)), timeout_s, interval_s=0.5)
    time.sleep(1.0)  # redelivered repeats, if any were to be stored twice, commit now
    return stored_keys(db_of(), bands)


def test_clean_broker_restart_with_ingest_stopped_loses_nothing(
    settings, own_broker, db, new_band_ids, tmp_path
):
    """Stop ingest, restart the broker, bands publish with their own accounts, start ingest."""
    bands = new_band_ids(20)
    (probe,) = new_band_ids(1)
    own = own_broker.settings_for(settings)
    for band in bands:
        own_broker.add_band(band, f"pw-{band}")
    ingest = spawn_service(own, "ingest", log_path=tmp_path / "ingest-1.log")
    probe_publisher = Publisher(own_broker.url("simulator"))
    try:
        wait_until_ingesting(probe_publisher, db, probe)
    finally:
        probe_publisher.close()
        ingest.send_signal(signal.SIGTERM)
        assert ingest.wait(timeout=30) == 0

    own_broker.stop()
    own_broker.start(bootstrap_accounts=False)  # nothing re-declared after the restart

    t0 = int(time.time() * 1000) - 3600_000
    published, acked = set(), set()
    for band in bands:
        band_publisher = CountingPublisher(
            f"mqtt://{band}:pw-{band}@127.0.0.1:{own_broker.port}", client_id=band
        )
        for i in range(5):
            topic, payload = sample(band, t0 + i * 1000)
            band_publisher.publish(topic, payload, key=(band, t0 + i * 1000))
            published.add((band, t0 + i * 1000))
        wait_until(lambda p=band_publisher: p.pending() == 0, timeout_s=10)
        acked |= band_publisher.acked
        band_publisher.close()
    assert len(acked) == 100

    ingest = spawn_service(own, "ingest", log_path=tmp_path / "ingest-2.log")
    try:
        stored = wait_stored(lambda: db, bands, acked, timeout_s=60)
        assert tally(acked, published, stored) == {"lost": 0, "duplicated": 0, "unexpected": 0}
    finally:
        ingest.terminate()
        ingest.wait(timeout=30)


def publish_stream(publisher: CountingPublisher, bands: list[str], per_band: int, faults: dict):
    """Publish per_band samples of every band, ~500 msg/s, running faults[n] before message n."""
    t0 = int(time.time() * 1000) - 7200_000
    published = set()
    started = time.monotonic()
    n = 0
    for i in range(per_band):
        for band in bands:
            if n in faults:
                faults[n]()
            t = t0 + i * 1000
            topic, payload = sample(band, t)
            publisher.publish(topic, payload, key=(band, t))
            published.add((band, t))
            n += 1
            lag = started + n / 500 - time.monotonic()
            if lag > 0:
                time.sleep(lag)
    return published


def test_broker_sigkill_mid_stream_loses_no_acknowledged_message(
    settings, own_broker, db, new_band_ids, tmp_path
):
    bands = new_band_ids(20)
    (probe,) = new_band_ids(1)
    own = own_broker.settings_for(settings)
    ingest = spawn_service(own, "ingest", log_path=tmp_path / "ingest.log")
    publisher = CountingPublisher(own_broker.url("simulator"))
    probe_publisher = Publisher(own_broker.url("simulator"))
    try:
        wait_until_ingesting(probe_publisher, db, probe)
        probe_publisher.close()

        def crash_and_restart() -> None:
            own_broker.kill()
            own_broker.start(bootstrap_accounts=False)

        published = publish_stream(publisher, bands, 200, {2000: crash_and_restart})
        wait_until(lambda: publisher.pending() == 0, timeout_s=60)
        stored = wait_stored(lambda: db, bands, publisher.acked, timeout_s=90)
        assert len(publisher.acked) > 3000
        outcome = tally(publisher.acked, published, stored)
        assert outcome == {"lost": 0, "duplicated": 0, "unexpected": 0}
    finally:
        publisher.close()
        ingest.terminate()
        ingest.wait(timeout=30)


def test_20000_messages_through_ingest_kills_a_broker_crash_and_a_database_crash(
    settings, own_broker, tmp_path
):
    """100 bands, 20,000 QoS 1 messages; ingest SIGKILLed 3 times, the broker SIGKILLed and
    restarted once, PostgreSQL crash-restarted once: lost = duplicated = unexpected = 0."""
    from eldercare.imei import make_imei
    from eldercare.migrate import apply_all
    from eldercare.registry import register_devices
    from tests.support import services
    from tests.support.pg_cluster import ThrowawayPostgres

    started = time.monotonic()
    pg = ThrowawayPostgres()
    pg.init()
    pg.start()
    url = services.create_database(pg.admin_url)
    bands = [make_imei(700_000 + i) for i in range(100)]
    probe = make_imei(700_500)
    with psycopg.connect(url) as conn:
        apply_all(conn)
        register_devices(conn, [*bands, probe])
        conn.commit()
    own = own_broker.settings_for(settings, database_url=url, ingest_client_id="ingest-combined")
    ingests = [spawn_service(own, "ingest", log_path=tmp_path / "ingest-0.log")]
    publisher = CountingPublisher(own_broker.url("simulator"))

    def db():
        return psycopg.connect(url, autocommit=True)

    def kill_ingest() -> None:
        ingests[-1].send_signal(signal.SIGKILL)
        ingests[-1].wait()
        log = tmp_path / f"ingest-{len(ingests)}.log"
        ingests.append(spawn_service(own, "ingest", log_path=log))

    def crash_broker() -> None:
        own_broker.kill()
        own_broker.start(bootstrap_accounts=False)

    def crash_database() -> None:
        pg.stop("immediate")
        time.sleep(1.0)
        pg.start()

    try:
        with db() as conn:
            probe_publisher = Publisher(own_broker.url("simulator"))
            wait_until_ingesting(probe_publisher, conn, probe)
            probe_publisher.close()
        faults = {
            2500: kill_ingest,
            5000: crash_broker,
            9000: kill_ingest,
            12000: crash_database,
            16000: kill_ingest,
        }
        published = publish_stream(publisher, bands, 200, faults)
        assert len(published) == 20_000
        wait_until(lambda: publisher.pending() == 0, timeout_s=60)
        with db() as conn:
            stored = wait_stored(lambda: conn, bands, publisher.acked, timeout_s=90)
        outcome = tally(publisher.acked, published, stored)
        assert outcome == {"lost": 0, "duplicated": 0, "unexpected": 0}
        assert len(publisher.acked) >= 19_000  # the stream really went through the faults
        assert time.monotonic() - started < 120
    finally:
        publisher.close()
        for ingest in ingests:
            ingest.terminate()
            ingest.wait(timeout=30)
        pg.remove()
