"""Messages published over MQTT end up in TimescaleDB, once, with bad parts dead-lettered."""

from __future__ import annotations

import time

import orjson

from eldercare import keys
from tests.support.mqtt import wait_until


def now_ms() -> int:
    return int(time.time() * 1000)


def telemetry(samples: list[dict]) -> bytes:
    return orjson.dumps({"v": 1, "sent_at": now_ms(), "samples": samples})


def count(db, sql: str, *params) -> int:
    return db.execute(sql, params).fetchone()[0]


def test_published_samples_are_stored(ingest_service, publisher, db, new_band_ids):
    (band,) = new_band_ids(1)
    t0 = now_ms() - 60_000
    samples = [{"t": t0 + i * 1000, "hr": 70 + i, "worn": True} for i in range(5)]
    publisher.publish(f"eldercare/v1/{band}/telemetry", telemetry(samples))
    publisher.wait_all_acked()

    def stored_hr():
        sql = "SELECT hr FROM telemetry_samples WHERE device_id=%s ORDER BY t"
        return [hr for (hr,) in db.execute(sql, (band,)).fetchall()]

    wait_until(lambda: len(stored_hr()) == 5)
    assert stored_hr() == [70, 71, 72, 73, 74]


def test_same_message_sent_five_times_is_stored_once(ingest_service, publisher, db, new_band_ids):
    (band,) = new_band_ids(1)
    payload = telemetry([{"t": now_ms() - 1000, "hr": 80}, {"t": now_ms() - 500, "hr": 81}])
    for _ in range(5):
        publisher.publish(f"eldercare/v1/{band}/telemetry", payload)
    event = orjson.dumps(
        {"v": 1, "sent_at": now_ms(), "id": "boot1-7", "t": now_ms(), "type": "wear_off"}
    )
    for _ in range(5):
        publisher.publish(f"eldercare/v1/{band}/event", event)
    publisher.wait_all_acked()

    wait_until(
        lambda: count(db, "SELECT count(*) FROM device_events WHERE device_id=%s", band) >= 1
    )
    time.sleep(0.5)  # let any straggling duplicate batch commit
    assert count(db, "SELECT count(*) FROM telemetry_samples WHERE device_id=%s", band) == 2
    assert count(db, "SELECT count(*) FROM device_events WHERE device_id=%s", band) == 1


def test_out_of_order_and_six_hour_late_uploads_are_stored(
    ingest_service, publisher, db, new_band_ids
):
    (band,) = new_band_ids(1)
    now = now_ms()
    late = [{"t": now - 6 * 3600_000 + i * 60_000, "hr": 60 + i} for i in range(3)]
    publisher.publish(f"eldercare/v1/{band}/telemetry", telemetry([{"t": now - 1000, "hr": 90}]))
    publisher.publish(f"eldercare/v1/{band}/telemetry", telemetry(list(reversed(late))))
    publisher.wait_all_acked()

    wait_until(
        lambda: count(db, "SELECT count(*) FROM telemetry_samples WHERE device_id=%s", band) == 4
    )


def test_bad_items_are_dead_lettered_and_valid_siblings_stored(
    ingest_service, publisher, db, new_band_ids
):
    band, other = new_band_ids(2)
    now = now_ms()
    mixed = telemetry(
        [
            {"t": now - 3000, "hr": 72},
            {"t": now - 2000, "hr": 400},  # out_of_range
            {"t": now + 30 * 60_000, "hr": 70},  # clock_skew
            {"t": now - 1000, "hr": "fast"},  # schema
        ]
    )
    publisher.publish(f"eldercare/v1/{band}/telemetry", mixed)
    publisher.publish(f"eldercare/v1/{band}/telemetry", b'{"v":1,"sent_at":')  # malformed_json
    publisher.publish(f"eldercare/v1/{band}/telemetry", b"x" * (64 * 1024 + 1))  # too_large
    unknown = "490154203237518"
    publisher.publish(f"eldercare/v1/{unknown}/telemetry", telemetry([{"t": now, "hr": 70}]))
    publisher.publish(
        f"eldercare/v1/{other}/location",
        orjson.dumps(
            {
                "v": 1,
                "sent_at": now,
                "fixes": [{"t": now - 1000, "lat": 41.1, "lon": 122.9, "acc": 10, "src": "gnss"}],
            }
        ),
    )
    publisher.wait_all_acked()

    wait_until(
        lambda: count(db, "SELECT count(*) FROM location_fixes WHERE device_id=%s", other) == 1
    )

    def dead_letter_reasons():
        sql = "SELECT reason::text FROM dead_letters WHERE device_id IN (%s, %s)"
        return sorted(reason for (reason,) in db.execute(sql, (band, unknown)).fetchall())

    wait_until(lambda: len(dead_letter_reasons()) == 6)
    reasons = dead_letter_reasons()
    assert reasons == sorted(
        ["out_of_range", "clock_skew", "schema", "malformed_json", "too_large", "unknown_device"]
    )
    assert count(db, "SELECT count(*) FROM telemetry_samples WHERE device_id=%s", band) == 1
    assert count(db, "SELECT count(*) FROM telemetry_samples WHERE device_id=%s", unknown) == 0
    detail, payload = db.execute(
        "SELECT detail, payload FROM dead_letters WHERE device_id=%s AND reason='out_of_range'",
        (band,),
    ).fetchone()
    assert "hr=400" in detail and b'"hr":400' in bytes(payload)


def test_sos_ack_arrives_within_two_seconds(ingest_service, publisher, broker, db, new_band_ids):
    from tests.support.mqtt import CommandListener

    (band,) = new_band_ids(1)
    listener = CommandListener(broker.url("simulator"), f"eldercare/v1/{band}/cmd")
    try:
        sos = orjson.dumps(
            {
                "v": 1,
                "sent_at": now_ms(),
                "id": "b17-000231",
                "t": now_ms(),
                "type": "sos",
                "lat": 41.108,
                "lon": 122.994,
                "acc": 8.0,
            }
        )
        sent_at = time.monotonic()
        publisher.publish(f"eldercare/v1/{band}/event", sos)
        acks = wait_until(lambda: listener.received, timeout_s=5)
        received_at, topic, payload = acks[0]
        ack = orjson.loads(payload)
        assert ack["type"] == "sos_ack" and ack["event_id"] == "b17-000231" and ack["v"] == 1
        assert received_at - sent_at < 2.0
        # the ack means the event is committed
        assert (
            count(db, "SELECT count(*) FROM device_events WHERE device_id=%s AND type='sos'", band)
            == 1
        )
    finally:
        listener.close()


def test_latest_state_reaches_redis_and_late_uploads_do_not_overwrite_it(
    ingest_service, publisher, redis_client, settings, new_band_ids
):
    (band,) = new_band_ids(1)
    now = now_ms()
    publisher.publish(
        f"eldercare/v1/{band}/telemetry", telemetry([{"t": now - 1000, "hr": 88, "worn": True}])
    )
    publisher.wait_all_acked()
    key = keys.band_state(settings.redis_prefix, band)
    wait_until(lambda: redis_client.hget(key, "hr") == b"88")
    publisher.publish(
        f"eldercare/v1/{band}/telemetry", telemetry([{"t": now - 3600_000, "hr": 55}])
    )
    publisher.publish(f"eldercare/v1/{band}/status", orjson.dumps({"v": 1, "online": False}))
    publisher.wait_all_acked()
    wait_until(lambda: redis_client.hget(key, "online") == b"0")
    state = redis_client.hgetall(key)
    assert state[b"hr"] == b"88" and state[b"worn"] == b"1"
    assert int(state[b"vitals_t"]) == now - 1000


def test_a_hung_redis_does_not_slow_down_storage(settings, broker, db, new_band_ids):
    """Redis accepts the connection and never answers: rows still flow at full speed."""
    import socket

    from pydantic import SecretStr

    from ingest.store import StoreResult
    from ingest.worker import IngestService
    from tests.support.mqtt import Publisher

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(100)  # connections complete in the backlog; nothing ever reads them
    port = silent.getsockname()[1]
    own = settings.model_copy(
        update={
            "redis_url": SecretStr(f"redis://127.0.0.1:{port}/0"),
            "ingest_client_id": "ingest-hung-redis",
            "ingest_queue": "ingest-hung-redis",
            "ingest_batch_max_messages": 50,
        }
    )
    (band,) = new_band_ids(1)
    service = IngestService(own)
    flusher = service.start()
    publisher = Publisher(broker.url("simulator"))
    try:
        wait_until(lambda: service.is_connected(), 10)
        time.sleep(0.5)
        started = time.monotonic()
        t0 = now_ms() - 3600_000
        for i in range(1000):
            publisher.publish(
                f"eldercare/v1/{band}/telemetry", telemetry([{"t": t0 + i * 1000, "hr": 70}])
            )
        publisher.wait_all_acked()
        sql = "SELECT count(*) FROM telemetry_samples WHERE device_id=%s"
        wait_until(lambda: count(db, sql, band) == 1000, timeout_s=30)
        assert time.monotonic() - started < 15

        # After one failure the next batch does not wait on Redis at all.
        before = time.monotonic()
        service._publish_hot_state([], StoreResult(), now_ms())
        assert time.monotonic() - before < 0.5
    finally:
        publisher.close()
        service.stop(flusher)
        silent.close()


def test_counters_are_scrapable_in_prometheus_format(settings, broker, db, new_band_ids):
    import httpx

    from ingest.worker import IngestService
    from tests.support.mqtt import Publisher
    from tests.support.services import free_port

    port = free_port()
    own = settings.model_copy(
        update={
            "ingest_metrics_port": port,
            "ingest_client_id": "ingest-metrics",
            "ingest_queue": "ingest-metrics",
        }
    )
    (band,) = new_band_ids(1)
    service = IngestService(own)
    service.metrics.serve(port)
    flusher = service.start()
    publisher = Publisher(broker.url("simulator"))
    try:
        wait_until(lambda: service.is_connected(), 10)
        time.sleep(0.3)
        payload = telemetry([{"t": now_ms() - 1000, "hr": 70}, {"t": now_ms() - 500, "hr": 999}])
        publisher.publish(f"eldercare/v1/{band}/telemetry", payload)
        publisher.publish(f"eldercare/v1/{band}/telemetry", payload)
        publisher.wait_all_acked()

        def scrape() -> str:
            return httpx.get(f"http://127.0.0.1:{port}/metrics").text

        wait_until(lambda: 'eldercare_ingest_duplicates_total{table="telemetry"} 1.0' in scrape())
        text = scrape()
        assert 'eldercare_ingest_messages_total{kind="telemetry"} 2.0' in text
        assert 'eldercare_ingest_rows_stored_total{table="telemetry"} 1.0' in text
        assert 'eldercare_ingest_dead_letters_total{reason="out_of_range"} 2.0' in text
        assert "eldercare_ingest_batch_seconds_count" in text
        assert "eldercare_ingest_broker_lag_seconds_count" in text
    finally:
        publisher.close()
        service.stop(flusher)
