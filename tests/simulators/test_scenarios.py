"""Scenarios produce contract-conforming, reproducible messages that show what they claim."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from eldercare.geodesy import distance_m
from simulators.messages import epoch_ms
from simulators.scenarios import SCENARIOS, World, build_bands, run_scenario
from tests.contracts.reference import evaluate, validator
from tests.simulators.helpers import START, band_ids, items, longest_run_ms

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN_MS = 60_000


def start_and_duration_for(name: str) -> tuple[datetime, timedelta]:
    if name == "night_wandering":  # from 22:00 local, past 02:00 local
        return START + timedelta(hours=6), timedelta(hours=7)
    return START, timedelta(hours=3)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_message_is_judged_as_the_scenario_intends(name: str) -> None:
    """Messages follow the contract, except deliberate defects, which ingest must catch."""
    start, duration = start_and_duration_for(name)
    messages = run_scenario(name, seed=3, start=start, duration=duration, device_ids=band_ids(3))
    assert messages and [m.at for m in messages] == sorted(m.at for m in messages)
    for message in messages:
        assert message.topic == f"eldercare/v1/{message.device_id}/{message.kind}"
        outcome = evaluate(message.kind, message.payload, epoch_ms(message.at) + 500)
        if message.defect is None:
            validator(message.kind).validate(orjson.loads(message.payload))
            assert outcome.dead_letters == [], (name, message)
            assert outcome.stored >= 1
        else:
            assert outcome.dead_letters and set(outcome.dead_letters) == {message.defect}


@pytest.mark.parametrize("name", ["malformed", "clock_skew"])
def test_defect_scenarios_really_contain_defects(name: str) -> None:
    messages = run_scenario(
        name, seed=3, start=START, duration=timedelta(hours=3), device_ids=band_ids(3)
    )
    defective = [m for m in messages if m.defect]
    assert defective
    if name == "malformed":
        assert len(defective) < len(messages) / 5


def test_same_seed_same_messages_other_seed_different() -> None:
    run = lambda seed: run_scenario(  # noqa: E731
        "normal", seed=seed, start=START, duration=timedelta(hours=2), device_ids=band_ids(3)
    )
    first, again, other = run(11), run(11), run(12)
    assert first == again
    assert [m.payload for m in first] != [m.payload for m in other]


def test_step_counter_never_negative_and_resets_at_local_midnight() -> None:
    messages = run_scenario(
        "normal", seed=5, start=START, duration=timedelta(hours=30), device_ids=band_ids(2)
    )
    for device_id in {m.device_id for m in messages}:
        samples = items([m for m in messages if m.device_id == device_id], "telemetry")
        previous = None
        for sample in samples:
            assert sample["steps"] >= 0
            day = _local_day(sample["t"])
            if previous and previous[0] == day:
                assert sample["steps"] >= previous[1]  # counts up within a local day
            elif previous:
                assert sample["steps"] < 50 <= previous[1]  # a new local day starts near 0
            previous = (day, sample["steps"])


def _local_day(t_ms: int):
    from simulators.messages import from_epoch_ms

    return from_epoch_ms(t_ms).astimezone(SHANGHAI).date()


def test_normal_band_heart_rate_and_blood_pressure_stay_healthy() -> None:
    messages = run_scenario(
        "normal", seed=8, start=START, duration=timedelta(hours=24), device_ids=band_ids(20)
    )
    samples = items(messages, "telemetry")
    assert len(samples) == 20 * 24 * 60
    assert all(45 <= s["hr"] <= 110 for s in samples)
    assert all(95 <= s["sbp"] <= 155 and s["sbp"] > s["dbp"] for s in samples if "sbp" in s)
    assert not [m for m in messages if m.kind == "event"]


def test_tachycardia_develops_slowly_and_lasts_at_rest() -> None:
    messages = run_scenario(
        "tachycardia", seed=2, start=START, duration=timedelta(hours=2), device_ids=band_ids(1)
    )
    samples = items(messages, "telemetry")
    first_over_100 = next(s["t"] for s in samples if s["hr"] > 100)
    first_over_120 = next(s["t"] for s in samples if s["hr"] > 120)
    assert first_over_120 - first_over_100 >= 5 * MIN_MS
    over_120 = [s for s in samples if s["t"] >= first_over_120]
    assert longest_run_ms(over_120, lambda s: s["hr"] > 120) >= 10 * MIN_MS
    assert len({s["steps"] for s in over_120}) == 1  # sitting still the whole time


def test_bradycardia_and_hypertensive_crisis_reach_alarming_values() -> None:
    kw = {"seed": 2, "start": START, "duration": timedelta(hours=2), "device_ids": band_ids(1)}
    slow = items(run_scenario("bradycardia", **kw), "telemetry")
    assert longest_run_ms(slow, lambda s: s["hr"] < 45) >= 10 * MIN_MS
    crisis = [
        s for s in items(run_scenario("hypertensive_crisis", **kw), "telemetry") if "sbp" in s
    ]
    assert sum(s["sbp"] > 180 and s["dbp"] > 110 for s in crisis) >= 3


def test_night_wandering_goes_far_from_home_at_night() -> None:
    device_ids, duration = band_ids(1), timedelta(hours=13)
    messages = run_scenario(
        "night_wandering", seed=4, start=START, duration=duration, device_ids=device_ids
    )
    band = build_bands(
        "night_wandering", World(seed=4, start=START, duration=duration), device_ids
    )[0]
    home = (band.movement.home_lat, band.movement.home_lon)
    # Cell fixes (acc of hundreds of metres) may land far away at any hour; judge precise ones.
    precise = [f for f in items(messages, "location") if f["acc"] <= 50]
    far = [f for f in precise if distance_m(*home, f["lat"], f["lon"]) > 500]
    assert far
    hours = {_local_hour(f["t"]) for f in far}
    assert hours <= {1, 2, 3, 4}
    assert far[-1]["t"] - far[0]["t"] >= 20 * MIN_MS


def _local_hour(t_ms: int) -> int:
    from simulators.messages import from_epoch_ms

    return from_epoch_ms(t_ms).astimezone(SHANGHAI).hour


def test_sos_is_resent_with_the_same_id() -> None:
    messages = run_scenario(
        "sos", seed=1, start=START, duration=timedelta(hours=1), device_ids=band_ids(1)
    )
    events = [m for m in messages if m.kind == "event"]
    bodies = items(events, "event")
    assert [b["type"] for b in bodies] == ["sos"] * 3 and len({b["id"] for b in bodies}) == 1
    assert [(b.at - events[0].at).total_seconds() for b in events] == [0, 10, 20]
    assert {"lat", "lon", "acc"} <= set(bodies[0])


def test_fall_leaves_the_resident_still_where_they_fell() -> None:
    messages = run_scenario(
        "fall", seed=1, start=START, duration=timedelta(hours=2), device_ids=band_ids(1)
    )
    fall = items(messages, "event")[0]
    assert fall["type"] == "fall"
    after = [s for s in items(messages, "telemetry") if s["t"] > fall["t"]]
    assert len({s["steps"] for s in after}) == 1
    fixes = [f for f in items(messages, "location") if f["t"] > fall["t"]]
    assert all(distance_m(fall["lat"], fall["lon"], f["lat"], f["lon"]) < 100 for f in fixes)


def test_band_removed_reports_not_worn_without_vitals() -> None:
    messages = run_scenario(
        "band_removed", seed=1, start=START, duration=timedelta(hours=2), device_ids=band_ids(1)
    )
    off = items(messages, "event")[0]
    assert off["type"] == "wear_off"
    after = [s for s in items(messages, "telemetry") if s["t"] > off["t"]]
    assert after and all(s["worn"] is False and "hr" not in s for s in after)


def test_battery_dies_after_low_battery_then_only_the_last_will() -> None:
    messages = run_scenario(
        "battery_dies", seed=1, start=START, duration=timedelta(hours=3), device_ids=band_ids(1)
    )
    low = next(m for m in messages if m.kind == "event")
    assert items([low], "event")[0]["type"] == "low_battery"
    assert messages[-1].kind == "status" and messages[-1].payload == b'{"v":1,"online":false}'
    assert messages[-1].at < START + timedelta(hours=2)  # silence for the last hour


def test_offline_band_uploads_its_buffer_late() -> None:
    messages = run_scenario(
        "offline_buffered", seed=1, start=START, duration=timedelta(hours=6), device_ids=band_ids(1)
    )
    gaps = [(b.at - a.at) for a, b in zip(messages, messages[1:], strict=False)]
    assert max(gaps) >= timedelta(hours=3)
    late = max((m for m in messages if m.kind == "telemetry"), key=lambda m: len(m.payload))
    samples = items([late], "telemetry")
    assert len(samples) >= 180
    assert epoch_ms(late.at) - samples[0]["t"] >= 3 * 3600_000


def test_duplicates_and_out_of_order_delivery_happen() -> None:
    messages = run_scenario(
        "duplicates_out_of_order",
        seed=1,
        start=START,
        duration=timedelta(hours=2),
        device_ids=band_ids(2),
    )
    payloads = [m.payload for m in messages]
    assert len(set(payloads)) < len(payloads)
    telemetry = items([m for m in messages if m.kind == "telemetry"], "telemetry")
    arrival_t = [items([m], "telemetry")[0]["t"] for m in messages if m.kind == "telemetry"]
    assert arrival_t != sorted(arrival_t)
    assert telemetry


def test_clock_skew_band_is_ten_minutes_ahead() -> None:
    messages = run_scenario(
        "clock_skew", seed=1, start=START, duration=timedelta(hours=1), device_ids=band_ids(1)
    )
    for message in (m for m in messages if m.kind == "telemetry"):
        assert items([message], "telemetry")[0]["t"] - epoch_ms(message.at) == 10 * MIN_MS


def test_homes_are_around_the_configured_centre_and_fixes_can_be_gcj02() -> None:
    from simulators.band import BandConfig

    shanghai_centre = (31.2304, 121.4737)
    messages = run_scenario(
        "normal",
        seed=1,
        start=START,
        duration=timedelta(hours=1),
        device_ids=band_ids(5),
        centre=shanghai_centre,
        config=BandConfig(crs="gcj02"),
    )
    fixes = items(messages, "location")
    assert fixes and all(f["crs"] == "gcj02" for f in fixes)
    precise = [f for f in fixes if f["acc"] <= 50]
    assert all(distance_m(*shanghai_centre, f["lat"], f["lon"]) < 2500 for f in precise)
    for message in messages:
        validator(message.kind).validate(orjson.loads(message.payload))
