"""The watch protocol decoded from frames as watches write them: pure, no services."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.framing import BadFrame, Frame, FrameReader, encode, unescape
from gateway.messages import (
    Binary,
    BloodPressure,
    BodyTemperature,
    DecodeError,
    HeartRate,
    Init,
    Link,
    Position,
    Query,
    decode,
)
from gateway.replies import reply_to, show_message, sos_numbers, upload_interval
from gateway.translate import event_id, merge, to_uplinks
from tests.gateway.frames import UD, UD_NO_FIX, WATCH_ID, alarm, frame

IMEI = "860000000000017"


def frames_of(*chunks: bytes) -> list[Frame | BadFrame]:
    reader = FrameReader()
    return [item for chunk in chunks for item in reader.feed(chunk)]


def test_several_frames_in_one_read_come_out_in_order():
    items = frames_of(frame("LK") + frame("LK,120,0,80") + frame("TKQ"))
    assert [f.content for f in items] == [b"LK", b"LK,120,0,80", b"TKQ"]  # type: ignore[union-attr]
    assert all(f.watch_id == WATCH_ID and f.vendor == "3G" for f in items)  # type: ignore[union-attr]


def test_a_frame_split_over_reads_byte_by_byte_is_one_frame():
    raw = frame(UD)
    items = frames_of(*(raw[i : i + 1] for i in range(len(raw))))
    assert len(items) == 1 and isinstance(items[0], Frame) and items[0].content == UD.encode()


def test_garbage_between_frames_is_skipped():
    items = frames_of(b"\x00\xffGET / HTTP/1.1\r\n" + frame("LK") + b"junk\n" + frame("TKQ2"))
    assert [f.content for f in items if isinstance(f, Frame)] == [b"LK", b"TKQ2"]


def test_optional_index_is_read_and_echoed_in_the_reply():
    (item,) = frames_of(frame("LK,50,0,90", index="00A1"))
    assert isinstance(item, Frame) and item.index == "00A1" and item.content == b"LK,50,0,90"
    assert encode("3G", WATCH_ID, b"LK", item.index) == b"[3G*8800000015*00A1*0002*LK]"


def test_content_that_starts_like_an_index_is_not_mistaken_for_one():
    (item,) = frames_of(b"[SG*8800000015*0007*00A1*XY]")
    assert isinstance(item, Frame) and item.index is None and item.content == b"00A1*XY"


def test_a_wrong_content_length_is_a_bad_frame_and_the_stream_goes_on():
    items = frames_of(b"[3G*8800000015*0009*LK]" + frame("LK"))
    assert isinstance(items[0], BadFrame) and items[0].reason == "length"
    assert items[0].raw == b"[3G*8800000015*0009*LK]"
    assert isinstance(items[1], Frame) and items[1].content == b"LK"


def test_binary_voice_with_escapes_is_one_frame_and_unescapes():
    voice = b"TK,#!AMR\n" + b"\x7d\x01\x7d\x02\x7d\x03\x7d\x04\x7d\x05" + bytes(range(0x5E, 0x7D))
    items = frames_of(frame(voice)[:20], frame(voice)[20:] + frame("LK"))
    assert isinstance(items[0], Frame) and items[0].content == voice
    assert unescape(items[0].content).startswith(b"TK,#!AMR\n}[],*")
    assert isinstance(decode(items[0].content), Binary)
    assert reply_to(decode(items[0].content)) == b"TK,1"
    assert isinstance(items[1], Frame) and items[1].content == b"LK"


def test_an_over_size_line_is_dropped_and_the_next_frame_read():
    reader = FrameReader(max_frame_bytes=1024)
    items = reader.feed(b"[3G*8800000015*FFFF*TK," + b"x" * 3000)
    items += reader.feed(b"y" * 3000 + b"]" + frame("LK"))
    assert [type(i).__name__ for i in items] == ["BadFrame", "Frame"]
    assert items[0].reason == "too_large"  # type: ignore[union-attr]
    assert reader.buffered == 0


def test_link_with_steps_rolls_and_battery_and_its_reply():
    message = decode(b"LK,3410,12,64")
    assert message == Link(steps=3410, rolls=12, battery=64)
    assert decode(b"LK") == Link()
    assert reply_to(message) == b"LK"


def test_init_and_voice_queries_are_answered():
    assert reply_to(decode(b"INIT,13800000000,1,1.0")) == b"INIT,1"
    assert isinstance(decode(b"INIT,13800000000,1,1.0"), Init)
    assert decode(b"TKQ") == Query("TKQ") and reply_to(Query("TKQ")) == b"TKQ"
    assert reply_to(decode(b"TKQ2")) == b"TKQ2"


@pytest.mark.parametrize("command", ["UD", "UD2", "UD_LTE", "UD_WCDMA", "WT"])
def test_position_reports_decode_every_field(command):
    p = decode((command + UD[2:]).encode())
    assert isinstance(p, Position) and p.command == command and not p.alarm
    assert p.time == datetime(2026, 11, 30, 23, 59, 50) and p.valid
    assert (p.lat, p.lon, p.speed_kmh, p.course_deg, p.altitude_m) == (
        41.108, 122.994, 3.5, 152.0, 12.0)  # fmt: skip
    assert (p.satellites, p.signal, p.battery, p.steps, p.rolls) == (9, 80, 64, 3410, 12)
    assert p.status == 0 and not (p.sos or p.fall or p.wrist_off or p.low_battery)
    assert [(c.mcc, c.mnc, c.lac, c.cid, c.signal) for c in p.cells] == [
        (460, 0, 9360, 4082, 131), (460, 0, 9360, 4092, 148)]  # fmt: skip
    assert [(w.name, w.mac, w.signal) for w in p.wifi] == [
        ("home", "8c:a6:df:11:22:33", -61), ("lobby", "8c:a6:df:44:55:66", -70)]  # fmt: skip
    assert p.accuracy_m == 24.5
    assert reply_to(p) is None


def test_southern_western_hemispheres_are_negative():
    p = decode(UD.replace(",N,", ",S,").replace(",E,", ",W,").encode())
    assert isinstance(p, Position) and (p.lat, p.lon) == (-41.108, -122.994)


@pytest.mark.parametrize(
    ("status", "flags"),
    [
        ("00010000", {"sos"}),
        ("00200000", {"fall"}),
        ("00100000", {"wrist_off"}),
        ("00000008", {"wrist_off"}),
        ("00020000", {"low_battery"}),
        ("00000001", {"low_battery"}),
        ("00400000", {"power_off"}),
        ("00210000", {"sos", "fall"}),
    ],
)
def test_status_word_bits(status, flags):
    p = decode(alarm(status).encode())
    assert isinstance(p, Position) and p.alarm
    names = ("sos", "fall", "wrist_off", "low_battery", "power_off")
    assert {n for n in names if getattr(p, n)} == flags


@pytest.mark.parametrize("command", ["AL", "ALCUSTOMER1"])
def test_alarms_are_answered_with_al(command):
    assert reply_to(decode(alarm("00010000", command).encode())) == b"AL"


def test_vital_readings():
    assert decode(b"heart,72") == HeartRate(72)
    assert decode(b"PULSE,88") == HeartRate(88)
    assert decode(b"bphrt,128,82,75,,,,") == BloodPressure(128, 82, 75)
    assert decode(b"BLOOD,131,85") == BloodPressure(131, 85, None)
    assert decode(b"btemp2,1,36.8") == BodyTemperature(36.8)


@pytest.mark.parametrize(
    "content",
    [b"UD,301126,235950,A,41.1", b"UD,991326,235950,A" + b",1" * 20, b"heart,", b"bphrt,120",
     b"btemp2,x", b"LK,abc", b"heart,\xff\xfe"],
)  # fmt: skip
def test_content_that_does_not_read_is_a_decode_error(content):
    with pytest.raises(DecodeError):
        decode(content)


def test_position_becomes_fix_sample_status_with_the_watch_clock_offset():
    p = decode(UD.encode())
    ups = to_uplinks(p, content=UD.encode(), imei=IMEI, offset_s=8 * 3600, received_ms=0)
    t = int(datetime(2026, 11, 30, 15, 59, 50, tzinfo=UTC).timestamp() * 1000)  # 8 h behind
    kinds = {u.kind: u.payload for u in ups}
    assert kinds["location"]["fixes"] == [
        {"t": t, "lat": 41.108, "lon": 122.994, "acc": 24.5, "src": "gnss"}]  # fmt: skip
    assert kinds["telemetry"]["samples"] == [{"t": t, "steps": 3410, "worn": True}]
    assert kinds["status"]["battery"] == 64 and "event" not in kinds


def test_sos_and_fall_are_events_with_an_id_stable_across_resends():
    content = alarm("00210000").encode()
    ups = to_uplinks(decode(content), content=content, imei=IMEI, offset_s=0, received_ms=0)
    events = [u.payload for u in ups if u.kind == "event"]
    assert [e["type"] for e in events] == ["sos", "fall"]
    assert events[0]["id"] == event_id("sos", IMEI, content)
    assert (events[0]["lat"], events[0]["lon"]) == (41.108, 122.994)
    again = to_uplinks(decode(content), content=content, imei=IMEI, offset_s=0, received_ms=9)
    assert [u.payload["id"] for u in again if u.kind == "event"] == [e["id"] for e in events]


def test_invalid_fix_sends_no_position_without_a_resolved_cell():
    p = decode(UD_NO_FIX.encode())
    ups = to_uplinks(p, content=UD_NO_FIX.encode(), imei=IMEI, offset_s=0, received_ms=0)
    assert "location" not in {u.kind for u in ups}


def test_vitals_become_telemetry_samples_at_receive_time():
    def sample(content: bytes) -> dict:
        (up,) = to_uplinks(decode(content), content=content, imei=IMEI, offset_s=0,
                           received_ms=1_000)  # fmt: skip
        return up.payload["samples"][0]

    assert sample(b"heart,72") == {"t": 1_000, "hr": 72}
    assert sample(b"bphrt,128,82,75") == {"t": 1_000, "sbp": 128, "dbp": 82, "hr": 75}
    assert sample(b"btemp2,1,36.8") == {"t": 1_000, "temp_c": 36.8}


def test_commands_in_the_watch_form():
    assert upload_interval(300) == b"UPLOAD,300"
    assert sos_numbers(["13800000001", "13800000002"]) == [
        b"SOS1,13800000001", b"SOS2,13800000002"]  # fmt: skip
    assert show_message("OK") == b"MESSAGE,004F004B"
    with pytest.raises(ValueError):
        sos_numbers(["138;CENTER"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_random_bytes_never_crash_the_decoder_or_grow_its_buffer(chunks):
    reader = FrameReader(max_frame_bytes=1024)
    for chunk in chunks:
        for item in reader.feed(chunk):
            if isinstance(item, Frame):
                with contextlib.suppress(DecodeError):
                    decode(item.content)
        assert reader.buffered <= 1024 + 300


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["UD", "AL", "LK", "heart", "bphrt", "btemp2", "INIT", "TK"]),
       st.lists(st.text(max_size=12) | st.binary(max_size=12).map(repr), max_size=40))  # fmt: skip
def test_random_fields_after_a_known_command_decode_or_fail_cleanly(command, fields):
    content = ",".join([command, *fields]).encode()
    (item,) = FrameReader(max_frame_bytes=1 << 20).feed(
        frame(content.replace(b"]", b"").replace(b"[", b""))
    )
    assert isinstance(item, (Frame, BadFrame))
    if isinstance(item, Frame):
        try:
            message = decode(item.content)
        except DecodeError:
            return
        to_uplinks(message, content=item.content, imei=IMEI, offset_s=0, received_ms=1)


def test_readings_of_frames_read_together_merge_into_fewer_messages_losing_none():
    def uplinks(content: str, received_ms: int):
        return to_uplinks(
            decode(content.encode()), content=content.encode(), imei="860000000000017",
            offset_s=0, received_ms=received_ms,
        )  # fmt: skip

    sos = alarm("00010000")
    together = uplinks(UD, 1) + uplinks("heart,72", 2) + uplinks(sos, 3) + uplinks("LK,5,0,61", 4)
    merged = merge(together)
    kinds = [u.kind for u in merged]
    assert kinds == ["event", "location", "telemetry", "status"]  # the SOS first
    assert merged[0].payload["type"] == "sos"
    assert len(merged[1].payload["fixes"]) == 2  # the UD's and the alarm's
    samples = merged[2].payload["samples"]
    assert [s.get("hr") for s in samples] == [None, 72, None, None]
    assert samples[-1]["steps"] == 5
    assert merged[3].payload["battery"] == 61  # the latest
    assert sum(len(u.payload.get("samples", ())) for u in together) == len(samples)
    single = uplinks("heart,80", 9)
    assert merge(single) == single  # one frame: its messages as they were


def test_the_hand_over_refuses_a_band_id_that_would_route_as_another_topic():
    import asyncio

    from gateway.handover import HandOver

    handover = HandOver(["amqp://nobody@127.0.0.1:1/%2F"])
    handover._loop = asyncio.new_event_loop()  # never connected: nothing is sent
    try:
        for bad in ("860000000000017.telemetry", "*", "#", "86000/0000", ""):
            with pytest.raises(ValueError):
                handover.publish(bad, "telemetry", {"v": 1})
        assert not handover.publish("860000000000017", "telemetry", {"v": 1}).done()
    finally:
        handover._loop.close()


def test_receive_stamps_are_distinct_and_never_on_a_whole_second():
    from gateway.server import Limits, Session

    session = Session(writer=None, limits=Limits())  # type: ignore[arg-type]
    stamps = [session.next_t_ms(now) for now in (5_000, 5_000, 5_999, 6_000, 6_000, 7_000)]
    assert stamps == [5_001, 5_002, 5_999, 6_001, 6_002, 7_001]
    assert all(t % 1000 for t in stamps)  # a watch's clock stamps whole seconds only
