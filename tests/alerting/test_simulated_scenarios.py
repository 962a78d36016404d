"""Scenarios from the simulators, stored by ingest's writer, evaluated as the service does.

Messages are stored in arrival order in 10-second slices; after each slice the bands that got
data are evaluated (as the stream loop does) and SOS/fall events applied; every simulated
minute the device-health tick and a full sweep run. Each scenario must raise exactly the
expected alerts, with the right severity, within 10 s of the data that completes them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerting.alerts import service as alerts
from alerting.engine import apply_findings
from tests.alerting.factories import make_resident
from tests.support.storage import store_messages

scenarios = pytest.importorskip("simulators.scenarios")

SLICE = timedelta(seconds=10)
DAY_START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 08:00 local
NIGHT_START = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # 01:00 local


def replay(db, engine, settings, messages, start, end, *, slice_=SLICE, sweep_every=6):
    """Store and evaluate the messages slice by slice, as the running service would."""
    pending = sorted(messages, key=lambda m: m.at)
    i, now, n = 0, start, 0
    while now < end:
        now += slice_
        batch = []
        while i < len(pending) and pending[i].at <= now:
            batch.append(pending[i])
            i += 1
        if batch:
            result = store_messages(
                db, [(m.topic, m.payload, m.at) for m in batch], settings=settings
            )
            events = [
                {**e, "t_ms": int(e["t_ms"])}
                for e in result.new_events
                if e["type"] in ("sos", "fall")
            ]
            apply_findings(db, engine.findings_from_events(events), now=now)
            touched = sorted({d for ds in result.devices_with_new_rows.values() for d in ds})
            if touched:
                apply_findings(db, engine.evaluate_bands(db, now=now, device_ids=touched), now=now)
        n += 1
        if n % sweep_every == 0:
            found = engine.evaluate_health(db, now=now) + engine.evaluate_bands(db, now=now)
            found += engine.evaluate_inactivity(db, now=now)
            apply_findings(db, found, now=now)


def setup_fleet(db, engine, new_band_ids, n, start, *, night_fence=False, world=None):
    bands = new_band_ids(n)
    for band in bands:
        resident = make_resident(db, band)
        if night_fence:
            home = scenarios.make_band(band, world).movement
            db.execute(
                """INSERT INTO geofences (resident_id, name, shape, center_lat, center_lon,
                       radius_m, active_from, active_until)
                   VALUES (%s, 'home at night', 'circle', %s, %s, 100, '22:00', '06:00')""",
                (resident, home.home_lat, home.home_lon),
            )
    engine.refresh(db, now=start)
    return bands


def completing_data_received(db, alert):
    """When the sample or fix that completed the alert's condition reached the backend."""
    for table in ("telemetry_samples", "location_fixes", "device_events"):
        row = db.execute(
            f"SELECT max(received_at) FROM {table} WHERE device_id = %s AND t = %s",
            (alert["device_id"], alert["first_seen_at"]),
        ).fetchone()
        if row[0] is not None:
            return row[0]
    return None


EXPECTED = {
    # name: (start, duration, rules expected per band, minimum severity)
    "tachycardia": (DAY_START, timedelta(minutes=90), {"tachycardia"}, 3),
    "bradycardia": (DAY_START, timedelta(minutes=90), {"bradycardia"}, 3),
    "hypertensive_crisis": (DAY_START, timedelta(minutes=120), {"hypertensive_crisis"}, 3),
    "sos": (DAY_START, timedelta(minutes=20), {"sos"}, 4),
    "fall": (DAY_START, timedelta(minutes=20), {"fall"}, 4),
    "band_removed": (DAY_START, timedelta(minutes=90), {"band_not_worn"}, 2),
    "night_wandering": (NIGHT_START, timedelta(hours=3), {"geofence_exit"}, 3),
    "duplicates_out_of_order": (DAY_START, timedelta(minutes=60), set(), 0),
    "malformed": (DAY_START, timedelta(minutes=60), set(), 0),
    # Every message is a clock_skew dead letter, so nothing is stored and nothing raised;
    # see the README's known limits.
    "clock_skew": (DAY_START, timedelta(minutes=30), set(), 0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenario_raises_exactly_its_alerts_in_time(
    name, clean_alerts, engine, new_band_ids, settings
):
    db = clean_alerts
    start, duration, expected_rules, min_severity = EXPECTED[name]
    world = scenarios.World(7, start, duration)
    bands = setup_fleet(
        db, engine, new_band_ids, 3, start, night_fence=name == "night_wandering", world=world
    )
    messages = scenarios.run_scenario(
        name, seed=7, start=start, duration=duration, device_ids=bands
    )
    replay(db, engine, settings, messages, start, start + duration)
    raised = alerts.list_alerts(db)
    got = sorted((a["device_id"], a["rule"]) for a in raised)
    assert got == sorted((b, rule) for b in bands for rule in expected_rules)
    for alert in raised:
        assert alert["severity"] >= min_severity
        received = completing_data_received(db, alert)
        assert received is not None
        # The condition completes with that data; the engine must raise it within 10 s.
        assert alert["opened_at"] - received <= timedelta(seconds=10), alert["rule"]


def test_battery_dies_raises_low_battery_then_offline(clean_alerts, engine, new_band_ids, settings):
    db = clean_alerts
    start, duration = DAY_START, timedelta(hours=6)
    bands = setup_fleet(db, engine, new_band_ids, 2, start)
    messages = scenarios.run_scenario(
        "battery_dies", seed=3, start=start, duration=duration, device_ids=bands
    )
    replay(db, engine, settings, messages, start, start + duration, slice_=timedelta(seconds=30))
    got = {(a["device_id"], a["rule"]) for a in alerts.list_alerts(db)}
    assert got == {(b, r) for b in bands for r in ("low_battery", "device_offline")}


def test_offline_buffered_raises_offline_and_clears_on_return_without_stale_vitals(
    clean_alerts, engine, new_band_ids, settings
):
    db = clean_alerts
    start, duration = DAY_START, timedelta(hours=6)
    bands = setup_fleet(db, engine, new_band_ids, 2, start)
    messages = scenarios.run_scenario(
        "offline_buffered", seed=5, start=start, duration=duration, device_ids=bands
    )
    replay(db, engine, settings, messages, start, start + duration, slice_=timedelta(seconds=30))
    raised = alerts.list_alerts(db)
    assert {(a["device_id"], a["rule"]) for a in raised} == {(b, "device_offline") for b in bands}
    assert all(a["status"] == "resolved" and a["resolved_by"] == "engine" for a in raised)


@pytest.mark.slow
def test_normal_simulated_fleet_of_200_over_a_day_raises_nothing(
    clean_alerts, engine, new_band_ids, settings
):
    db = clean_alerts
    start, duration = datetime(2026, 11, 22, 16, 0, tzinfo=UTC), timedelta(hours=24)
    bands = setup_fleet(db, engine, new_band_ids, 200, start)
    for resident_band in bands[::3]:
        db.execute(
            "UPDATE residents SET living_alone = true WHERE resident_id = "
            "(SELECT resident_id FROM devices WHERE device_id = %s)",
            (resident_band,),
        )
    messages = scenarios.run_scenario(
        "normal", seed=11, start=start, duration=duration, device_ids=bands
    )
    replay(
        db,
        engine,
        settings,
        messages,
        start,
        start + duration,
        slice_=timedelta(minutes=10),
        sweep_every=1,
    )
    raised = [(a["rule"], a["device_id"]) for a in alerts.list_alerts(db)]
    assert raised == []
