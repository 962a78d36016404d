"""The parser applies the contract item by item and never raises on bad input."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingest.parse import parse_message

BAND = "490154203237518"
NOW = 1_795_420_800_000


def parse(kind: str, body: dict | bytes):
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_message(f"eldercare/v1/{BAND}/{kind}", payload, received_ms=NOW)


def reasons(msg) -> list[str]:
    return [r.reason for r in msg.rejects]


def test_sos_from_a_band_with_a_fast_clock_is_stored_at_server_time_not_dropped():
    msg = parse("event", {"v": 1, "sent_at": NOW, "id": "e1", "t": NOW + 600_000, "type": "sos"})
    assert [(e[0], e[1], e[2]) for e in msg.events] == [("e1", NOW, "sos")]
    assert reasons(msg) == ["clock_skew"] and msg.urgent


def test_ordinary_event_with_a_fast_clock_is_rejected():
    msg = parse(
        "event", {"v": 1, "sent_at": NOW, "id": "e2", "t": NOW + 600_000, "type": "wear_off"}
    )
    assert msg.events == [] and reasons(msg) == ["clock_skew"]


def test_sos_with_a_garbled_position_keeps_the_sos_and_drops_the_position():
    msg = parse(
        "event",
        {
            "v": 1,
            "sent_at": NOW,
            "id": "e3",
            "t": NOW,
            "type": "fall",
            "lat": "north",
            "lon": 122.9,
        },
    )
    assert msg.events[0][2] == "fall" and msg.events[0][4] is None
    assert reasons(msg) == ["schema"]


def test_service_request_needs_a_service():
    msg = parse("event", {"v": 1, "sent_at": NOW, "id": "e4", "t": NOW, "type": "service_request"})
    assert msg.events == [] and reasons(msg) == ["schema"]
    ok = parse(
        "event",
        {
            "v": 1,
            "sent_at": NOW,
            "id": "e5",
            "t": NOW,
            "type": "service_request",
            "service": "meal",
        },
    )
    assert ok.events[0][3] == "meal" and ok.rejects == []


def test_last_will_without_sent_at_is_a_valid_status():
    msg = parse("status", b'{"v":1,"online":false}')
    assert msg.status == (NOW, False, None, None, None, None) and msg.rejects == []


def test_samples_older_than_seven_days_are_out_of_range_but_six_days_are_fine():
    day = 86_400_000
    msg = parse(
        "telemetry",
        {
            "v": 1,
            "sent_at": NOW,
            "samples": [{"t": NOW - 6 * day, "hr": 70}, {"t": NOW - 8 * day, "hr": 70}],
        },
    )
    assert [s[0] for s in msg.samples] == [NOW - 6 * day]
    assert reasons(msg) == ["out_of_range"]


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        ({"t": NOW, "sbp": 120}, "schema"),
        ({"t": NOW, "sbp": 80, "dbp": 90}, "out_of_range"),
        ({"t": NOW, "steps": -1}, "out_of_range"),
        ({"t": NOW}, "schema"),
        ({"t": NOW, "hr": 72.5}, "schema"),
        ({"t": NOW, "hr": 24}, "out_of_range"),
        ({"t": NOW, "hr": 25}, None),
        ({"t": NOW, "hr": 250, "sbp": 260, "dbp": 160, "steps": 100000}, None),
    ],
)
def test_sample_rules(sample, reason):
    msg = parse("telemetry", {"v": 1, "sent_at": NOW, "samples": [sample]})
    assert reasons(msg) == ([reason] if reason else [])
    assert len(msg.samples) == (0 if reason else 1)


@pytest.mark.parametrize(
    ("fix", "reason"),
    [
        ({"t": NOW, "lat": 0, "lon": 0, "acc": 5, "src": "gnss"}, "out_of_range"),
        ({"t": NOW, "lat": 91, "lon": 10, "acc": 5, "src": "gnss"}, "out_of_range"),
        ({"t": NOW, "lat": 41, "lon": 122, "acc": 0, "src": "gnss"}, "out_of_range"),
        ({"t": NOW, "lat": 41, "lon": 122, "acc": 5, "src": "bluetooth"}, "schema"),
        ({"t": NOW, "lat": 41, "lon": 122, "acc": 5, "src": "cell", "crs": "gcj02"}, None),
    ],
)
def test_fix_rules(fix, reason):
    msg = parse("location", {"v": 1, "sent_at": NOW, "fixes": [fix]})
    assert reasons(msg) == ([reason] if reason else [])


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"[]",
        b'{"v":2,"sent_at":1,"samples":[{"t":1,"hr":70}]}',
        b'{"v":1,"sent_at":1,"samples":[]}',
        b'{"v":1,"samples":[{"t":1,"hr":70}]}',
        orjson.dumps({"v": 1, "sent_at": NOW, "samples": [{"t": NOW, "hr": 70}] * 501}),
    ],
)
def test_bad_envelopes_reject_the_whole_message_once(payload):
    msg = parse("telemetry", payload)
    assert msg.samples == [] and len(msg.rejects) == 1
    assert msg.rejects[0].reason in ("schema", "malformed_json")
    assert msg.rejects[0].payload == payload


def test_topic_with_a_device_id_that_is_not_an_imei_is_unknown_device():
    msg = parse_message("eldercare/v1/robot/telemetry", b"{}", received_ms=NOW)
    assert reasons(msg) == ["unknown_device"]


def test_a_bad_sample_keeps_its_own_raw_bytes_as_dead_letter_payload():
    raw = b'{"v":1,"sent_at":1,"samples":[{"t":%d,"hr":70},{"t":%d,  "hr":999}]}' % (NOW, NOW)
    msg = parse("telemetry", raw)
    assert len(msg.samples) == 1 and msg.rejects[0].payload == b'{"t":%d,  "hr":999}' % NOW


sample_values = st.fixed_dictionaries(
    {"t": st.integers(NOW - 10 * 86_400_000, NOW + 3_600_000)},
    optional={
        "hr": st.integers(0, 300),
        "sbp": st.integers(0, 300),
        "dbp": st.integers(0, 200),
        "steps": st.integers(-10, 200_000),
        "worn": st.booleans(),
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(sample_values, min_size=1, max_size=20))
def test_every_sample_is_either_stored_or_dead_lettered_never_both_never_lost(samples):
    msg = parse("telemetry", {"v": 1, "sent_at": NOW, "samples": samples})
    rejected = {r.index for r in msg.rejects}
    assert len(msg.samples) + len(rejected) == len(samples)
    assert len(rejected) == len(msg.rejects)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(payload):
    for kind in ("telemetry", "location", "event", "status"):
        msg = parse(kind, payload)
        assert msg.rejects or msg.row_count


checked_sample_values = st.fixed_dictionaries(
    {"t": st.integers(NOW - 10 * 86_400_000, NOW + 3_600_000)},
    optional={
        "hr": st.none() | st.integers(0, 300),
        "sbp": st.none() | st.integers(0, 300),
        "dbp": st.none() | st.integers(0, 200),
        "steps": st.none() | st.integers(-10, 200_000),
        "worn": st.none() | st.booleans(),
        "temp_c": st.none() | st.floats(25, 50) | st.integers(25, 50),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(checked_sample_values, min_size=1, max_size=20))
@example([{"t": NOW, "sbp": 100, "dbp": 100}, {"t": NOW, "temp_c": 36.6}])
@example([{"t": NOW, "dbp": 80, "hr": 70}, {"t": NOW, "hr": None, "worn": None}])
@example([{"t": NOW + 301_000, "hr": 70}, {"t": NOW, "worn": False}])
def test_a_sample_is_judged_the_same_alone_or_among_others(samples):
    """The one-decode path for clean messages and the item-by-item path (which a mistyped
    sample forces on its message-mates) agree on every sample."""
    mistyped = {"t": NOW, "hr": 72.5}
    msg = parse("telemetry", {"v": 1, "sent_at": NOW, "samples": [*samples, mistyped]})
    alone = [parse("telemetry", {"v": 1, "sent_at": NOW, "samples": [s]}) for s in samples]
    assert msg.samples == [row for m in alone for row in m.samples]
    assert [(r.reason, r.index) for r in msg.rejects] == [
        *((m.rejects[0].reason, i) for i, m in enumerate(alone) if m.rejects),
        ("schema", len(samples)),
    ]
