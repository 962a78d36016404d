"""Watches at the TCP level through the real gateway, broker, ingest and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.frames import UD, alarm, frame
from tests.support.mqtt import Publisher, wait_until


def rows(db, sql: str, *params):
    return db.execute(sql, params).fetchall()


def watch_clock(moment: datetime, offset_min: int = 0) -> str:
    """ddmmyy,hhmmss as a watch whose clock runs `offset_min` ahead of UTC writes it."""
    return (moment + timedelta(minutes=offset_min)).strftime("%d%m%y,%H%M%S")


def ud_at(moment: datetime, offset_min: int = 0, status: str = "00000000", cmd="UD") -> str:
    head = f"{cmd},{watch_clock(moment, offset_min)}"
    return head + UD[len("UD,301126,235950") :].replace(",00000000,", f",{status},")


def test_heartbeat_is_answered_and_its_steps_and_battery_are_stored(
    gateway, ingest_service, watches, watch_band, db
):
    imei, watch_id = watch_band()
    watch = watches()
    watch.send(frame("LK,3410,12,64", watch_id))
    assert watch.expect(b"LK").raw == f"[3G*{watch_id}*0002*LK]".encode()
    wait_until(lambda: rows(db, "SELECT steps FROM telemetry_samples WHERE device_id=%s", imei))
    assert rows(db, "SELECT steps FROM telemetry_samples WHERE device_id=%s", imei) == [(3410,)]
    status = lambda: rows(db, "SELECT battery FROM device_status WHERE device_id=%s", imei)  # noqa: E731
    assert wait_until(status) == [(64,)]
    assert gateway.metric("eldercare_gateway_frames_total", type="LK") >= 1


def test_index_firmware_gets_its_index_back(gateway, watches, watch_band):
    _, watch_id = watch_band()
    watch = watches()
    watch.send(frame("LK", watch_id, index="0042") + frame("TKQ", watch_id, index="0043"))
    assert watch.expect(b"LK").index == "0042"
    assert watch.expect(b"TKQ").index == "0043"
    watch.send(frame("INIT,13800000000,1", watch_id) + frame("TKQ2", watch_id))
    watch.expect(b"INIT,1")
    watch.expect(b"TKQ2")


def test_vitals_and_body_temperature_are_stored(gateway, ingest_service, watches, watch_band, db):
    imei, watch_id = watch_band()
    watch = watches()
    frames = [frame(c, watch_id) for c in ("heart,72", "bphrt,128,82,75", "btemp2,1,36.8")]
    watch.send(b"".join(frames))
    sql = """SELECT hr, sbp, dbp, round(temp_c::numeric, 1)::float8 FROM telemetry_samples
             WHERE device_id = %s ORDER BY t"""
    stored = wait_until(lambda: len(rows(db, sql, imei)) == 3 and rows(db, sql, imei))
    assert [tuple(r) for r in stored] == [
        (72, None, None, None), (75, 128, 82, None), (None, None, None, 36.8)]  # fmt: skip


def test_position_is_stored_at_the_watch_time_less_its_offset(
    gateway, ingest_service, watches, watch_band, db
):
    imei, watch_id = watch_band(offset_min=480)  # a watch on Beijing time
    now = datetime.now(UTC).replace(microsecond=0)
    watches().send(frame(ud_at(now, offset_min=480), watch_id))
    sql = "SELECT t, lat, lon, acc_m, src::text FROM location_fixes WHERE device_id = %s"
    (fix,) = wait_until(lambda: rows(db, sql, imei))
    assert fix == (now, 41.108, 122.994, 24.5, "gnss")


def test_a_reading_beyond_the_skew_in_the_future_is_dead_lettered_as_clock_skew(
    gateway, ingest_service, watches, watch_band, db
):
    imei, watch_id = watch_band()  # default offset 0: this watch claims UTC, but runs on +8
    now = datetime.now(UTC).replace(microsecond=0)
    watches().send(frame(ud_at(now, offset_min=480), watch_id))
    sql = "SELECT reason::text FROM dead_letters WHERE device_id = %s"
    assert "clock_skew" in {r for (r,) in wait_until(lambda: rows(db, sql, imei))}
    assert rows(db, "SELECT 1 FROM location_fixes WHERE device_id = %s", imei) == []


def test_unknown_watch_is_closed_with_one_dead_letter_holding_its_frame(gateway, watches, db):
    raw = frame("LK,1,2,3", "0000000001")
    watch = watches()
    watch.send(raw + raw)
    assert watch.closed_by_gateway()
    sql = "SELECT reason::text, payload FROM dead_letters WHERE topic = 'watch/0000000001'"
    assert wait_until(lambda: rows(db, sql)) == [("unknown_device", raw)]
    assert gateway.metric("eldercare_gateway_connections_closed_total", reason="unknown_device")


def test_a_first_frame_that_is_not_one_closes_the_connection(gateway, watches, db):
    probe = b"[GET / HTTP/1.1]"
    watch = watches()
    watch.send(probe + frame("LK", "0000000002"))
    assert watch.closed_by_gateway()
    sql = "SELECT reason::text FROM dead_letters WHERE payload = %s"
    assert wait_until(lambda: rows(db, sql, probe)) == [("malformed_frame",)]


def test_malformed_flood_is_cut_off_and_the_gateway_serves_others(gateway, watches, watch_band, db):
    imei, watch_id = watch_band()
    flood = watches()
    flood.send(frame("LK", watch_id))
    flood.expect(b"LK")
    bad = b"[3G*%s*0009*LK]" % watch_id.encode()
    try:
        for _ in range(200):
            flood.send(bad + b"[3G*%s*00FF*UD,1,2]" % watch_id.encode())
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert flood.closed_by_gateway()
    sql = "SELECT payload FROM dead_letters WHERE device_id = %s AND reason = 'malformed_frame'"
    stored = {bytes(p) for (p,) in wait_until(lambda: rows(db, sql, imei))}
    assert bad in stored and len(stored) <= 2  # raw bytes kept; a flood is not a flood of rows
    other_imei, other_id = watch_band()
    other = watches()
    other.send(frame("LK", other_id))
    other.expect(b"LK")


def test_a_new_connection_replaces_the_old_one_for_the_same_band(gateway, watches, watch_band):
    _, watch_id = watch_band()
    first = watches()
    first.send(frame("LK", watch_id))
    first.expect(b"LK")
    second = watches()
    second.send(frame("LK", watch_id))
    second.expect(b"LK")
    assert first.closed_by_gateway()


def test_an_idle_connection_is_closed(gateway_factory, watch_band):
    from tests.gateway.conftest import Watch

    gw = gateway_factory(gateway_idle_timeout_s=0.5)
    _, watch_id = watch_band()
    watch = Watch(gw.port)
    watch.send(frame("LK", watch_id))
    watch.expect(b"LK")
    assert watch.closed_by_gateway(timeout_s=5)
    watch.close()


def test_a_watch_over_its_frame_rate_is_disconnected(gateway_factory, watch_band):
    from tests.gateway.conftest import Watch

    gw = gateway_factory(gateway_max_frames_per_min=5)
    _, watch_id = watch_band()
    watch = Watch(gw.port)
    watch.send(frame("TKQ", watch_id) * 20)
    assert watch.closed_by_gateway()
    assert gw.metric("eldercare_gateway_connections_closed_total", reason="rate") == 1
    watch.close()


def test_sos_alarm_is_answered_once_handed_over_and_sos_ack_reaches_the_watch(
    gateway, ingest_service, watches, watch_band, db
):
    imei, watch_id = watch_band()
    watch = watches()
    content = alarm("00010000").replace("301126,235950", watch_clock(datetime.now(UTC)))
    watch.send(frame(content, watch_id))
    watch.expect(b"AL")
    shown = watch.expect(b"MESSAGE,")  # ingest's sos_ack, after the event was committed
    text = bytes.fromhex(shown.content.split(b",", 1)[1].decode()).decode("utf-16-be")
    assert "救助" in text
    sql = "SELECT type::text, lat FROM device_events WHERE device_id = %s"
    assert rows(db, sql, imei) == [("sos", 41.108)]
    watch.send(frame(content, watch_id))  # the watch re-sends: still one event
    watch.expect(b"AL")
    watch.expect(b"MESSAGE,")
    assert rows(db, sql, imei) == [("sos", 41.108)]


def waiting_commands(db, imei: str) -> int:
    sql = "SELECT count(*) FROM watch_pending_commands WHERE device_id = %s"
    return rows(db, sql, imei)[0][0]


def test_commands_wait_for_an_offline_watch_and_go_out_when_it_connects(
    gateway, watches, watch_band, broker, db
):
    imei, watch_id = watch_band()
    api = Publisher(broker.url("api"))
    try:
        for command in (
            {"v": 1, "id": "c-1", "type": "locate"},
            {"v": 1, "id": "c-2", "type": "config", "location_interval_s": 300},
            {"v": 1, "id": "c-3", "type": "sos_numbers", "sos": ["13800000001"],
             "centre": "13900000002"},
        ):  # fmt: skip
            api.publish(f"eldercare/v1/{imei}/cmd", orjson.dumps(command))
        api.wait_all_acked()
        wait_until(lambda: waiting_commands(db, imei) == 4)
        watch = watches()
        watch.send(frame("LK", watch_id))
        for expected in (b"CR", b"UPLOAD,300", b"SOS1,13800000001", b"CENTER,13900000002"):
            watch.expect(expected)
        api.publish(f"eldercare/v1/{imei}/cmd", b'{"v":1,"id":"c-4","type":"locate"}')
        watch.expect(b"CR")  # online: at once
    finally:
        api.close()


@pytest.fixture
def tolerant_gateway(gateway_factory, watch_band):
    """A gateway that never gives up on bad frames, and one watch of it."""
    gw = gateway_factory(gateway_max_bad_frames=10**6)
    return gw, watch_band()[1]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.binary(min_size=1, max_size=600))
def test_random_bytes_never_stall_a_connection(tolerant_gateway, junk):
    """Whatever arrives between frames, the next frame is still answered."""
    from tests.gateway.conftest import Watch

    gw, watch_id = tolerant_gateway  # one gateway for every example
    watch = Watch(gw.port)
    try:
        watch.send(frame("LK", watch_id))
        watch.expect(b"LK")
        watch.send(junk + b"]" + frame("TKQ", watch_id))
        watch.expect(b"TKQ")
    finally:
        watch.close()


OPENCELLID_CSV = """\
radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal
LTE,460,0,9360,4082,0,122.9900,41.1000,800,12,1,1459692428,1459692428,0
LTE,460,0,9360,4092,0,122.9980,41.1160,1200,7,1,1459692428,1459692428,0
"""


def test_a_watch_without_fix_is_placed_by_the_imported_cell_table_or_not_at_all(
    gateway, ingest_service, watches, watch_band, db, tmp_path
):
    from gateway.store import import_cell_towers

    csv_path = tmp_path / "cells.csv"
    csv_path.write_text(OPENCELLID_CSV)
    db.execute("DELETE FROM cell_towers")
    assert import_cell_towers(db, csv_path) == 2
    imei, watch_id = watch_band()
    now = datetime.now(UTC).replace(microsecond=0)
    no_fix = ud_at(now).replace(",A,41.108000,N,122.994000,E,", ",V,0.000000,N,0.000000,E,")
    unknown_towers = (
        ud_at(now - timedelta(minutes=1))
        .replace(",A,41.108000,N,122.994000,E,", ",V,0.000000,N,0.000000,E,")
        .replace(",460,0,9360,", ",460,1,7777,")
    )
    watch = watches()
    watch.send(frame(no_fix, watch_id) + frame(unknown_towers, watch_id))
    sql = "SELECT t, lat, lon, acc_m, src::text FROM location_fixes WHERE device_id = %s"
    (fix,) = wait_until(lambda: rows(db, sql, imei))
    assert fix[0] == now and fix[4] == "cell" and fix[3] == 1200
    assert 41.100 < fix[1] < 41.116 and 122.990 < fix[2] < 122.998
    obs = "SELECT resolved_lat IS NOT NULL, cells, wifi FROM watch_observations WHERE device_id=%s"
    observed = wait_until(lambda: len(rows(db, obs, imei)) == 2 and rows(db, obs, imei))
    assert sorted(r[0] for r in observed) == [False, True]  # no match: kept, not placed
    assert observed[0][2][0]["mac"] == "8c:a6:df:11:22:33"
    assert len(rows(db, sql, imei)) == 1
