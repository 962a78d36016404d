"""The engine against scenarios stored in TimescaleDB: exactly the alerts that should be raised."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from alerting.alerts import service as alerts
from alerting.engine import apply_findings
from tests.alerting.factories import (
    HOME,
    T0,
    add_contact,
    insert_event,
    insert_telemetry,
    make_resident,
    minutes,
    normal_day,
    set_status,
)


def run_engine(db, engine, now, device_ids=None):
    engine.refresh(db, now=now)
    found = engine.evaluate_bands(db, now=now, device_ids=device_ids)
    found += engine.evaluate_health(db, now=now)
    return apply_findings(db, found, now=now)


def open_alerts(db, rule=None):
    return [
        a
        for a in alerts.list_alerts(db, status=["open", "acknowledged"])
        if rule is None or a["rule"] == rule
    ]


def test_slow_tachycardia_raises_one_alert_once_sustained_at_rest(
    clean_alerts, engine, new_band_ids
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    n = 40  # HR climbs 80 -> 135 over 40 minutes, resident at rest
    t = minutes(T0, n)
    hr = np.linspace(80, 135, n).round()
    insert_telemetry(db, band, t, hr=hr, steps=np.full(n, 500), worn=np.ones(n))
    set_status(db, band, t[-1])
    crossed = int(np.argmax(hr > 120))
    completes = crossed + 5  # five minutes above 120
    # Before the condition has lasted 5 minutes: nothing.
    run_engine(db, engine, t[completes - 1] + timedelta(seconds=5), [band])
    assert open_alerts(db) == []
    # Evaluating repeatedly afterwards: one alert, repeats only update it.
    for i in range(completes, n, 3):
        run_engine(db, engine, t[i] + timedelta(seconds=5), [band])
    raised = open_alerts(db)
    assert [a["rule"] for a in raised] == ["tachycardia"]
    alert = raised[0]
    assert alert["severity"] >= 3
    assert alert["details"]["news2_partial"] >= 2
    assert "partial NEWS2" in alert["details"]["news2_note"]
    assert alert["first_seen_at"] <= t[completes] + timedelta(seconds=10)
    assert alert["occurrences"] > 1


def test_walking_fast_heart_rate_is_not_tachycardia(clean_alerts, engine, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    n = 30
    t = minutes(T0, n)
    insert_telemetry(db, band, t, hr=np.full(n, 128), steps=np.arange(n) * 90, worn=np.ones(n))
    set_status(db, band, t[-1])
    run_engine(db, engine, t[-1] + timedelta(seconds=5), [band])
    assert open_alerts(db) == []


def test_one_noisy_reading_alarms_nobody(clean_alerts, engine, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    n = 30
    t = minutes(T0, n)
    hr = np.full(n, 72.0)
    hr[10] = 190
    hr[20] = 35
    sbp = np.full(n, np.nan)
    dbp = np.full(n, np.nan)
    sbp[15], dbp[15] = 200, 125  # one crisis-level reading, not confirmed
    sbp[25], dbp[25] = 130, 80
    insert_telemetry(db, band, t, hr=hr, sbp=sbp, dbp=dbp, steps=np.full(n, 10), worn=np.ones(n))
    set_status(db, band, t[-1])
    run_engine(db, engine, t[-1] + timedelta(seconds=5), [band])
    assert open_alerts(db) == []


def test_confirmed_hypertensive_crisis_is_raised(clean_alerts, engine, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    t = minutes(T0, 3, step_s=600)
    insert_telemetry(
        db, band, t, hr=[80, 82, 84], sbp=[150, 226, 231], dbp=[90, 118, 121], worn=[1, 1, 1]
    )
    set_status(db, band, t[-1])
    run_engine(db, engine, t[-1] + timedelta(seconds=2), [band])
    (alert,) = open_alerts(db)
    assert alert["rule"] == "hypertensive_crisis"
    assert alert["severity"] == 4  # SBP >= 220 scores 3 on NEWS2 and is critical here


def test_late_batch_with_a_critical_crisis_before_lesser_readings_is_critical(
    clean_alerts, engine, new_band_ids
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    t = minutes(T0, 5, step_s=600)  # the band was out of reach; all of it arrives at once
    insert_telemetry(
        db,
        band,
        t,
        hr=[80] * 5,
        sbp=[150, 226, 231, 190, 185],
        dbp=[90, 118, 121, 100, 100],
        worn=[1] * 5,
        received_at=t[-1] + timedelta(minutes=5),
    )
    set_status(db, band, t[-1] + timedelta(minutes=5))
    run_engine(db, engine, t[-1] + timedelta(minutes=5, seconds=2), [band])
    (alert,) = open_alerts(db)
    assert (alert["rule"], alert["severity"]) == ("hypertensive_crisis", 4)


def test_readings_while_not_worn_never_raise_vitals_but_band_not_worn_does(
    clean_alerts, engine, new_band_ids
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    n = 60  # on the nightstand: optical sensor reads garbage
    t = minutes(T0, n)
    insert_telemetry(
        db,
        band,
        t,
        hr=np.full(n, 150),
        sbp=np.full(n, 230),
        dbp=np.full(n, 130),
        steps=np.full(n, 0),
        worn=np.zeros(n),
    )
    set_status(db, band, t[-1])
    run_engine(db, engine, t[20], [band])  # 20 min off: not yet
    assert open_alerts(db) == []
    for i in range(35, n, 5):
        run_engine(db, engine, t[i] + timedelta(seconds=5), [band])
    assert [a["rule"] for a in open_alerts(db)] == ["band_not_worn"]
    # Put back on: the alert resolves itself.
    t2 = minutes(t[-1] + timedelta(minutes=1), 2)
    insert_telemetry(db, band, t2, hr=[70, 71], steps=[0, 0], worn=[1, 1])
    run_engine(db, engine, t2[-1] + timedelta(seconds=5), [band])
    assert open_alerts(db) == []
    (resolved,) = alerts.list_alerts(db, status=["resolved"])
    assert resolved["resolved_by"] == "engine"


def test_sos_event_opens_critical_alert_once(clean_alerts, engine, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    resident = make_resident(db, band, living_alone=True)
    add_contact(db, resident)
    engine.refresh(db, now=T0)
    event = insert_event(db, band, "boot1-0001", "sos", T0, *HOME, 8.0)
    for _ in range(2):  # stream and sweep both deliver it
        apply_findings(db, engine.findings_from_events([event]), now=T0)
    (alert,) = open_alerts(db)
    assert (alert["rule"], alert["severity"], alert["priority"]) == ("sos", 4, 1)
    assert alert["occurrences"] == 1
    channels = {r[0] for r in db.execute("SELECT channel FROM outbox WHERE channel <> 'changes'")}
    assert channels == {"console", "community_gateway", "family_gateway", "gateway_120"}
    second = insert_event(db, band, "boot1-0002", "sos", T0 + timedelta(seconds=30))
    apply_findings(db, engine.findings_from_events([second]), now=T0 + timedelta(seconds=30))
    (alert,) = open_alerts(db)
    assert alert["occurrences"] == 2


def test_unbound_band_raises_device_alert_keyed_by_device(clean_alerts, engine, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    set_status(db, band, T0, battery=9)
    run_engine(db, engine, T0 + timedelta(seconds=10))
    (alert,) = open_alerts(db)
    assert (alert["rule"], alert["subject_key"], alert["resident_id"]) == (
        "low_battery",
        f"device:{band}",
        None,
    )


def test_offline_by_silence_and_by_last_will_and_back_online(clean_alerts, engine, new_band_ids):
    db = clean_alerts
    silent, will, fine = new_band_ids(3)
    for band in (silent, will, fine):
        make_resident(db, band)
    set_status(db, silent, T0)
    set_status(db, will, T0 + timedelta(minutes=9), online=False)
    set_status(db, fine, T0 + timedelta(minutes=9))
    run_engine(db, engine, T0 + timedelta(minutes=10, seconds=1))
    offline = {a["device_id"] for a in open_alerts(db, "device_offline")}
    assert offline == {silent, will}
    set_status(db, silent, T0 + timedelta(minutes=11))
    run_engine(db, engine, T0 + timedelta(minutes=11, seconds=5))
    assert {a["device_id"] for a in open_alerts(db, "device_offline")} == {will}


def test_step_counter_reset_does_not_make_resident_look_active_or_negative(
    clean_alerts, engine, new_band_ids, settings
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band, living_alone=True)
    # Local 06:00-11:30 (22:00-03:30 UTC): the counter shows yesterday's total, then reboots to 0.
    start = T0 - timedelta(hours=2)
    n = 330
    t = minutes(start, n)
    steps = np.where(np.arange(n) < 100, 4200, 0)  # reboot at 07:40 local, then no steps
    insert_telemetry(db, band, t, hr=np.full(n, 70), steps=steps, worn=np.ones(n))
    set_status(db, band, t[-1])
    now = t[-1] + timedelta(seconds=5)
    engine.refresh(db, now=now)
    found = engine.evaluate_inactivity(db, now=now)
    assert [f.rule for f in found] == ["inactivity"]


@pytest.mark.slow
def test_normal_numpy_fleet_over_a_day_raises_nothing(clean_alerts, engine, new_band_ids):
    # A second generator, independent of the simulators (their fleet of 200 is in
    # test_simulated_scenarios.py), so the rules are not tuned to one model of normal.
    db = clean_alerts
    bands = new_band_ids(100)
    rng = np.random.default_rng(7)
    n = 1440
    t = minutes(T0, n)
    for i, band in enumerate(bands):
        make_resident(db, band, living_alone=(i % 3 == 0), full_name=f"Resident {i}")
        hr, sbp, dbp, steps, worn = normal_day(rng, n)
        insert_telemetry(db, band, t, hr=hr, sbp=sbp, dbp=dbp, steps=steps, worn=worn)
        set_status(db, band, t[-1], battery=int(rng.integers(30, 100)))
    db.execute("ANALYZE telemetry_samples")
    raised = []
    for step in range(30, n, 30):  # every 30 simulated minutes
        now = t[step] + timedelta(seconds=5)
        engine.refresh(db, now=now)
        found = engine.evaluate_bands(db, now=now)
        found += engine.evaluate_inactivity(db, now=now)
        raised += [f for f in found if not f.clear]
    assert raised == []


def test_deviation_from_own_baseline_for_a_resident_whose_normal_is_not_textbook(
    clean_alerts, engine, new_band_ids
):
    from alerting.engine import refresh_baselines

    db = clean_alerts
    athlete, typical = new_band_ids(2)
    make_resident(db, athlete)
    make_resident(db, typical)
    rng = np.random.default_rng(11)
    # Ten days of history at 08:00-09:00 local: the athlete rests at ~48 bpm, the other at ~72.
    for day in range(1, 11):
        t = minutes(T0 - timedelta(days=day), 60)
        insert_telemetry(db, athlete, t, hr=np.round(rng.normal(48, 2, 60)), worn=np.ones(60))
        insert_telemetry(db, typical, t, hr=np.round(rng.normal(72, 3, 60)), worn=np.ones(60))
    assert refresh_baselines(db, now=T0) >= 2
    # Today both sit at 84 bpm at rest: textbook-normal, but not for the athlete.
    t = minutes(T0, 30)
    for band in (athlete, typical):
        insert_telemetry(db, band, t, hr=np.full(30, 84), steps=np.full(30, 5), worn=np.ones(30))
        set_status(db, band, t[-1])
    run_engine(db, engine, t[-1] + timedelta(seconds=5), [athlete, typical])
    raised = open_alerts(db)
    assert [(a["rule"], a["device_id"]) for a in raised] == [("baseline_deviation", athlete)]


@pytest.mark.parametrize("zone", ["Asia/Beijing", "UTC+8"])
def test_baselines_survive_a_resident_zone_stored_before_zones_were_checked(
    clean_alerts, new_band_ids, zone
):
    from alerting.engine import refresh_baselines

    db = clean_alerts
    stray_band, typical_band = new_band_ids(2)
    stray = make_resident(db, stray_band, timezone=zone)
    typical = make_resident(db, typical_band)
    for day in range(2, 5):  # the last day is left out of baselines
        t = minutes(T0 - timedelta(days=day), 60)  # 08:00-09:00 in Asia/Shanghai
        for band in (stray_band, typical_band):
            insert_telemetry(db, band, t, hr=np.full(60, 70), worn=np.ones(60))
    refresh_baselines(db, now=T0)
    rows = db.execute(
        """SELECT resident_id, hour, days FROM resident_baselines
           WHERE resident_id = ANY(%s) ORDER BY resident_id""",
        ([stray, typical],),
    ).fetchall()
    # The unknown zone is read as UTC+8, as the engine reads it.
    assert rows == [(stray, 8, 3), (typical, 8, 3)]


@pytest.mark.parametrize("zone", ["Asia/Beijing", "Asia", ""])
def test_engine_reads_a_zone_it_does_not_know_as_utc8(clean_alerts, engine, new_band_ids, zone):
    db = clean_alerts
    stray_band, typical_band = new_band_ids(2)
    make_resident(db, stray_band, timezone=zone)
    make_resident(db, typical_band, timezone="Europe/Berlin")
    engine.refresh(db, now=T0)
    fleet = engine.fleet
    offsets_h = dict(zip(fleet.device_ids, fleet.utc_offset_ms / 3_600_000, strict=True))
    assert offsets_h == {stray_band: 8, typical_band: 1}


def test_per_resident_override_changes_the_threshold_for_that_resident_only(
    clean_alerts, engine, new_band_ids
):
    db = clean_alerts
    sensitive, other = new_band_ids(2)
    resident = make_resident(db, sensitive)
    make_resident(db, other)
    db.execute(
        "INSERT INTO alert_thresholds (resident_id, name, value) VALUES (%s, %s, 100)",
        (resident, "tachycardia_bpm"),
    )
    t = minutes(T0, 12)
    for band in (sensitive, other):
        insert_telemetry(db, band, t, hr=np.full(12, 108), steps=np.full(12, 3), worn=np.ones(12))
        set_status(db, band, t[-1])
    run_engine(db, engine, t[-1] + timedelta(seconds=5), [sensitive, other])
    assert [(a["rule"], a["device_id"]) for a in open_alerts(db)] == [("tachycardia", sensitive)]


def test_offline_band_that_stays_silent_is_one_alert_without_spurious_repeats(
    clean_alerts, engine, new_band_ids
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    set_status(db, band, T0)
    for minute in range(11, 40, 2):
        run_engine(db, engine, T0 + timedelta(minutes=minute))
    (alert,) = open_alerts(db)
    assert (alert["rule"], alert["occurrences"]) == ("device_offline", 1)


def test_engines_split_the_bands_between_them_by_device_hash(clean_alerts, new_band_ids, settings):
    from alerting.engine import Engine

    db = clean_alerts
    bands = new_band_ids(40)
    fleets = []
    for index in range(3):
        shard = Engine(
            settings.model_copy(update={"alerting_shard_index": index, "alerting_shard_count": 3})
        )
        shard.refresh(db, now=T0)
        fleets.append(set(shard.fleet.device_ids.tolist()))
    assert sorted(b for fleet in fleets for b in fleet) == sorted(bands)  # each band exactly once
    assert all(fleets)  # and every engine has some


def test_vitals_of_a_bands_previous_wearer_raise_nothing_for_the_next(
    clean_alerts, engine, new_band_ids
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    t = minutes(T0, 12)  # previous wearer: HR 140 at rest for 12 minutes
    insert_telemetry(db, band, t, hr=np.full(12, 140), steps=np.full(12, 3), worn=np.ones(12))
    set_status(db, band, t[-1])
    newcomer = make_resident(db)
    db.execute(
        "UPDATE devices SET resident_id = %s, bound_at = %s WHERE device_id = %s",
        (newcomer, t[-1] + timedelta(seconds=1), band),
    )
    run_engine(db, engine, t[-1] + timedelta(seconds=5), [band])
    assert open_alerts(db, "tachycardia") == []
    db.execute("UPDATE devices SET bound_at = NULL WHERE device_id = %s", (band,))
    run_engine(db, engine, t[-1] + timedelta(seconds=5), [band])
    assert [a["resident_id"] for a in open_alerts(db, "tachycardia")] == [newcomer]


def test_a_bands_previous_wearer_is_not_the_next_ones_baseline(clean_alerts, new_band_ids):
    from alerting.engine import refresh_baselines

    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    for day in range(2, 5):  # three days of the previous wearer, 08:00-09:00 local
        t = minutes(T0 - timedelta(days=day), 60)
        insert_telemetry(db, band, t, hr=np.full(60, 70), worn=np.ones(60))
    newcomer = make_resident(db)
    db.execute(
        "UPDATE devices SET resident_id = %s, bound_at = %s WHERE device_id = %s",
        (newcomer, T0 - timedelta(days=1, hours=12), band),
    )
    refresh_baselines(db, now=T0)
    rows = db.execute(
        "SELECT count(*) FROM resident_baselines WHERE resident_id = %s", (newcomer,)
    ).fetchone()
    assert rows == (0,)


def offline_band(db, engine, new_band_ids) -> str:
    """A resident's band, silent since T0, whose offline alert opened at T0 + 10 min."""
    (band,) = new_band_ids(1)
    make_resident(db, band)
    set_status(db, band, T0)
    run_engine(db, engine, T0 + timedelta(minutes=10, seconds=1))
    assert len(open_alerts(db, "device_offline")) == 1
    return band


def test_band_back_online_resolves_its_offline_alert_after_changing_resident(
    clean_alerts, engine, new_band_ids
):
    db = clean_alerts
    band = offline_band(db, engine, new_band_ids)
    (alert,) = open_alerts(db)
    make_resident(db, band, full_name="Next Wearer")  # rebound behind the API's back
    set_status(db, band, T0 + timedelta(minutes=11))
    run_engine(db, engine, T0 + timedelta(minutes=11, seconds=5))
    assert open_alerts(db) == []
    assert alerts.get(db, alert_id=alert["alert_id"])["resolved_by"] == "engine"


def test_unbinding_an_offline_band_does_not_reraise_the_same_silence(
    clean_alerts, engine, new_band_ids
):
    db = clean_alerts
    band = offline_band(db, engine, new_band_ids)
    unbound_at = T0 + timedelta(minutes=12)
    db.execute("UPDATE devices SET resident_id = NULL WHERE device_id = %s", (band,))
    resolved = alerts.resolve_band_alerts(
        db, device_id=band, actor="account:1", resolution="band unbound", now=unbound_at
    )
    assert len(resolved) == 1
    run_engine(db, engine, unbound_at + timedelta(seconds=30))
    assert open_alerts(db) == []
