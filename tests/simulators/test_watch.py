"""The simulated 4G watches speak frames the gateway reads back as the same readings."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.messages import decode
from gateway.translate import to_uplinks
from simulators.messages import epoch_ms, make_message
from simulators.watch import WatchState, contents_for

IMEI = "860000000000017"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def round_trip(kind: str, body: dict, state: WatchState) -> list:
    out = []
    for content in contents_for(make_message(IMEI, kind, body, NOW), state):
        message = decode(content)
        out += to_uplinks(message, content=content, imei=IMEI, offset_s=0, received_ms=1)
    return out


def test_watch_frames_carry_the_simulated_readings():
    state = WatchState()
    t = epoch_ms(NOW)
    samples = [{"t": t, "hr": 71, "sbp": 131, "dbp": 84, "steps": 2100, "temp_c": 36.4}]
    ups = round_trip("telemetry", {"v": 1, "sent_at": t, "samples": samples}, state)
    got = {k: v for u in ups if u.kind == "telemetry" for k, v in u.payload["samples"][0].items()}
    assert {k: got[k] for k in ("hr", "sbp", "dbp", "steps", "temp_c")} == {
        "hr": 71, "sbp": 131, "dbp": 84, "steps": 2100, "temp_c": 36.4}  # fmt: skip
    fix = {"t": t, "lat": 41.1081, "lon": 122.9942, "acc": 8.0, "src": "gnss"}
    ups = round_trip("location", {"v": 1, "sent_at": t, "fixes": [fix]}, state)
    (loc,) = [u.payload["fixes"][0] for u in ups if u.kind == "location"]
    assert (loc["t"], loc["lat"], loc["lon"]) == (t, 41.1081, 122.9942)
    sos = {"v": 1, "sent_at": t, "id": "b-1", "t": t, "type": "sos"}
    ups = round_trip("event", sos, state)
    (event,) = [u.payload for u in ups if u.kind == "event"]
    assert (event["type"], event["t"], event["lat"]) == ("sos", t, 41.1081)
