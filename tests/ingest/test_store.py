"""Storage is idempotent and stores positions in WGS-84 (through tests.support.storage)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from eldercare.datum import wgs84_to_gcj02
from tests.support.storage import store_messages


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def test_gcj02_fixes_are_stored_in_wgs84(settings, database_url, new_band_ids):
    import psycopg

    (band,) = new_band_ids(1)
    true_lat, true_lon = 41.108, 122.994
    gcj_lat, gcj_lon = wgs84_to_gcj02(true_lat, true_lon)
    t = now_ms() - 1000
    payload = orjson.dumps(
        {
            "v": 1,
            "sent_at": t,
            "fixes": [
                {
                    "t": t,
                    "lat": float(gcj_lat),
                    "lon": float(gcj_lon),
                    "acc": 20,
                    "src": "wifi",
                    "crs": "gcj02",
                }
            ],
        }
    )
    with psycopg.connect(database_url) as conn:
        store_messages(conn, [(f"eldercare/v1/{band}/location", payload, at(t))], settings=settings)
        lat, lon, crs = conn.execute(
            "SELECT lat, lon, reported_crs FROM location_fixes WHERE device_id = %s", (band,)
        ).fetchone()
    assert abs(lat - true_lat) < 1e-7 and abs(lon - true_lon) < 1e-7 and crs == "gcj02"
    assert abs(float(gcj_lat) - true_lat) > 1e-4  # the datums really differ here


def test_resent_sos_with_a_skewed_clock_is_stored_once(settings, database_url, new_band_ids):
    import psycopg

    (band,) = new_band_ids(1)
    t = now_ms()
    sos = orjson.dumps({"v": 1, "sent_at": t, "id": "boot3-1", "t": t + 3600_000, "type": "sos"})
    topic = f"eldercare/v1/{band}/event"
    with psycopg.connect(database_url) as conn:
        first = store_messages(conn, [(topic, sos, at(t))], settings=settings)
        again = store_messages(
            conn, [(topic, sos, at(t + 10_000)), (topic, sos, at(t + 20_000))], settings=settings
        )
        rows = conn.execute(
            "SELECT count(*) FROM device_events WHERE device_id = %s", (band,)
        ).fetchone()[0]
        dead = conn.execute(
            "SELECT count(*) FROM dead_letters WHERE device_id = %s", (band,)
        ).fetchone()[0]
    assert rows == 1
    assert first.urgent_events == [(band, "boot3-1")] and len(first.new_events) == 1
    assert again.new_events == [] and len(again.urgent_events) == 2  # acked again, not stored
    assert dead == 1  # the clock_skew note, recorded once


def test_status_reports_arriving_out_of_order_keep_the_newest(settings, database_url, new_band_ids):
    import psycopg

    (band,) = new_band_ids(1)
    t = now_ms()
    topic = f"eldercare/v1/{band}/status"
    newer = orjson.dumps({"v": 1, "sent_at": t, "online": True, "battery": 40})
    older = orjson.dumps({"v": 1, "sent_at": t - 60_000, "online": True, "battery": 90})
    with psycopg.connect(database_url) as conn:
        store_messages(conn, [(topic, newer, at(t))], settings=settings)
        store_messages(conn, [(topic, older, at(t + 1000))], settings=settings)
        battery = conn.execute(
            "SELECT battery FROM device_status WHERE device_id = %s", (band,)
        ).fetchone()[0]
    assert battery == 40


def test_bad_message_sent_again_is_dead_lettered_once(settings, database_url, new_band_ids):
    import psycopg

    (band,) = new_band_ids(1)
    t = datetime.now(UTC)
    topic = f"eldercare/v1/{band}/telemetry"
    with psycopg.connect(database_url) as conn:
        for k in range(3):
            store_messages(
                conn, [(topic, b"{not json", t + timedelta(seconds=k))], settings=settings
            )
        dead = conn.execute(
            "SELECT reason::text, payload FROM dead_letters WHERE device_id = %s", (band,)
        ).fetchall()
    assert [(r, bytes(p)) for r, p in dead] == [("malformed_json", b"{not json")]


def test_message_the_database_refuses_is_dead_lettered_and_its_batch_mates_stored(
    database_url, new_band_ids
):
    """A poison message must never block a batch (the broker would redeliver it forever)."""
    import psycopg

    from ingest.parse import parse_message
    from ingest.store import prepare_connection, store_isolating

    good_band, bad_band = new_band_ids(2)
    t = now_ms()
    good = parse_message(
        f"eldercare/v1/{good_band}/telemetry",
        orjson.dumps({"v": 1, "sent_at": t, "samples": [{"t": t, "hr": 70}]}),
        received_ms=t,
    )
    poison = parse_message(
        f"eldercare/v1/{bad_band}/status",
        orjson.dumps({"v": 1, "sent_at": t, "online": True}),
        received_ms=t,
    )
    poison.status = (t, True, None, None, None, "fw\x00")  # as if it slipped past the parser
    with psycopg.connect(database_url) as conn:
        prepare_connection(conn)
        result = store_isolating(conn, [good, poison])
        stored = conn.execute(
            "SELECT count(*) FROM telemetry_samples WHERE device_id = %s", (good_band,)
        ).fetchone()[0]
        dead = conn.execute(
            "SELECT reason::text, detail FROM dead_letters WHERE device_id = %s", (bad_band,)
        ).fetchall()
    assert stored == 1 and result.rows_stored["telemetry"] == 1
    assert len(dead) == 1 and dead[0][0] == "schema" and "database refused" in dead[0][1]


def test_control_characters_in_event_ids_are_rejected_at_the_edge():
    from ingest.parse import parse_message

    t = now_ms()
    msg = parse_message(
        "eldercare/v1/490154203237518/event",
        orjson.dumps({"v": 1, "sent_at": t, "id": "a\x00b", "t": t, "type": "wear_on"}),
        received_ms=t,
    )
    assert msg.events == [] and [r.reason for r in msg.rejects] == ["schema"]


def test_redelivered_samples_beside_new_ones_are_stored_once_and_only_new_bands_announced(
    settings, database_url, new_band_ids
):
    """A batch that repeats stored samples (a redelivery after a crash) stores only the new
    ones, and tells the engine only about bands that really got new rows."""
    import psycopg

    repeated_band, new_band = new_band_ids(2)
    t = now_ms() - 60_000 + 123  # milliseconds must survive the trip exactly

    def telemetry(band: str, times: list[int]) -> tuple[str, bytes, datetime]:
        samples = [{"t": s, "hr": 70} for s in times]
        body = orjson.dumps({"v": 1, "sent_at": times[-1], "samples": samples})
        return f"eldercare/v1/{band}/telemetry", body, at(t + 5000)

    with psycopg.connect(database_url) as conn:
        first = store_messages(conn, [telemetry(repeated_band, [t, t + 1])], settings=settings)
        again = store_messages(
            conn,
            [telemetry(repeated_band, [t, t + 1]), telemetry(new_band, [t, t + 1, t + 2])],
            settings=settings,
        )
        stored = conn.execute(
            "SELECT device_id, (extract(epoch FROM t) * 1000)::int8 FROM telemetry_samples"
            " WHERE device_id = ANY(%s)"
            " ORDER BY device_id, t",
            ([repeated_band, new_band],),
        ).fetchall()
    assert first.rows_stored["telemetry"] == 2
    assert first.devices_with_new_rows["telemetry"] == {repeated_band}
    assert again.rows_stored["telemetry"] == 3 and again.duplicates["telemetry"] == 2
    assert again.devices_with_new_rows["telemetry"] == {new_band}
    expected = [(repeated_band, t + k) for k in range(2)] + [(new_band, t + k) for k in range(3)]
    assert stored == sorted(expected)


def test_a_sample_repeated_within_one_batch_is_stored_once(settings, database_url, new_band_ids):
    """A band that re-sends a message before its PUBACK puts the same sample twice in a batch."""
    import psycopg

    (band,) = new_band_ids(1)
    t = now_ms() - 1000
    body = orjson.dumps({"v": 1, "sent_at": t, "samples": [{"t": t, "hr": 71}]})
    topic = f"eldercare/v1/{band}/telemetry"
    with psycopg.connect(database_url) as conn:
        result = store_messages(
            conn, [(topic, body, at(t)), (topic, body, at(t))], settings=settings
        )
        rows = conn.execute(
            "SELECT hr FROM telemetry_samples WHERE device_id = %s", (band,)
        ).fetchall()
    assert rows == [(71,)] and result.rows_stored["telemetry"] == 1
