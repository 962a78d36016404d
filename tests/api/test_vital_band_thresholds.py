"""A vital band's thresholds set through the API are the ones the engine confirms against."""

from __future__ import annotations

import numpy as np
import pytest

from alerting.rules.common import HIGH, Fleet
from alerting.rules.thresholds import Params, load_overrides
from alerting.rules.vitals import Telemetry, evaluate_vitals

T0_MS = 1_795_420_800_000


def resting_heart_rate(hr: float, n: int) -> Telemetry:
    """n readings of the same heart rate every 30 s, worn, at rest."""
    t = T0_MS + np.arange(n, dtype=np.int64) * 30_000
    nan = np.full(n, np.nan)
    return Telemetry(
        np.zeros(n, np.int64), t, np.full(n, hr), nan, nan, np.full(n, 9.0), np.ones(n)
    )


def findings_for(db, resident_id: int, tel: Telemetry):
    fleet = Fleet(
        device_ids=np.array(["860000000000009"]),
        resident_ids=np.array([resident_id], dtype=np.int64),
        living_alone=np.zeros(1, bool),
        disabled=np.zeros(1, bool),
        low_income=np.zeros(1, bool),
        utc_offset_ms=np.full(1, 8 * 3_600_000, dtype=np.int64),
    )
    params = Params(fleet.resident_ids, load_overrides(db))
    return evaluate_vitals(fleet, params, tel, int(tel.t_ms[-1]) + 1000)


def test_a_resident_s_own_red_band_confirms_as_the_default_one_does(client, family_world, db):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    assert findings_for(db, rid, resting_heart_rate(126, 3)) == []  # 126 is not red by default
    put = client.put(
        f"/residents/{rid}/thresholds",
        json={"overrides": {"tachycardia_red_bpm": 125}},
        headers=worker.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["defaults"]["tachycardia_red_bpm"] == 131
    assert findings_for(db, rid, resting_heart_rate(126, 2)) == []  # still 3 readings
    (found,) = findings_for(db, rid, resting_heart_rate(126, 3))
    assert (found.rule, found.severity, found.details["band"]) == ("tachycardia", HIGH, "red")
    assert found.details["held_s"] == 60.0  # not the 300 s the sustained band would need


@pytest.mark.parametrize("value", [1, 0, 2.5])
def test_a_band_confirmed_by_fewer_than_two_whole_readings_is_refused(client, family_world, value):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    resp = client.put(
        f"/residents/{rid}/thresholds",
        json={"overrides": {"tachycardia_extreme_readings": value}},
        headers=worker.headers,
    )
    assert resp.status_code == 422
    assert "tachycardia_extreme_readings is a whole number of readings >= 2" in resp.text
