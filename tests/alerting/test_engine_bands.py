"""Severity bands through the engine and the database: how soon people hear, and who."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from alerting.alerts import service as alerts
from alerting.rules.common import CRITICAL, HIGH
from tests.alerting.factories import T0, insert_telemetry, make_resident, minutes, set_status
from tests.alerting.test_engine_scenarios import open_alerts, run_engine
from tests.alerting.test_raising import pages


def test_resting_heart_rate_of_38_pages_within_a_minute(clean_alerts, engine, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    t = minutes(T0, 5, step_s=30)  # two minutes of HR 38 at rest, every 30 s
    insert_telemetry(db, band, t, hr=[38] * 5, steps=[500] * 5, worn=[1] * 5)
    set_status(db, band, t[-1])
    run_engine(db, engine, t[1] + timedelta(seconds=5), [band])
    assert open_alerts(db) == []  # two readings are not yet proof
    run_engine(db, engine, t[2] + timedelta(seconds=5), [band])
    (alert,) = open_alerts(db)
    assert (alert["rule"], alert["severity"], alert["details"]["band"]) == (
        "bradycardia",
        HIGH,
        "red",
    )
    assert alert["first_seen_at"] == t[2]  # 60 s after the first reading
    assert pages(db, alert["alert_id"])  # somebody is told, not only the record


def test_worsening_heart_rate_raises_severity_on_the_same_alert_and_pages_again(
    clean_alerts, engine, new_band_ids
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    t = minutes(T0, 6, step_s=30)
    hr = np.array([135, 138, 140, 182, 186, 188])  # red, then the extreme band
    insert_telemetry(db, band, t, hr=hr, steps=[500] * 6, worn=[1] * 6)
    set_status(db, band, t[-1])
    run_engine(db, engine, t[2] + timedelta(seconds=5), [band])
    (alert,) = open_alerts(db)
    assert (alert["rule"], alert["severity"]) == ("tachycardia", HIGH)
    alert_id = alert["alert_id"]
    before = pages(db, alert_id)
    run_engine(db, engine, t[3] + timedelta(seconds=5), [band])  # one reading of 182: no proof
    assert alerts.get(db, alert_id=alert_id)["severity"] == HIGH
    run_engine(db, engine, t[4] + timedelta(seconds=5), [band])
    (alert,) = open_alerts(db)
    assert (alert["alert_id"], alert["severity"]) == (alert_id, CRITICAL)
    details = alert["details"]
    assert (details["band"], details["hr_bpm"], details["news2_hr"]) == ("extreme", 186.0, 3)
    assert pages(db, alert_id)[len(before) :] == [
        f"alert-{alert_id}-severity-4-duty_console",
        f"alert-{alert_id}-severity-4-grid_worker",
    ]
    raised = [e for e in alerts.timeline(db, alert_id=alert_id) if e["kind"] == "severity_raised"]
    assert [(e["data"]["from"], e["data"]["to"]) for e in raised] == [("high", "critical")]
