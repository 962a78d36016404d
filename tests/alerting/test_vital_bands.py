"""Each vital band confirms as fast as its danger calls for, and never on what cannot be trusted.

For every band: the shortest series that must alert (and at which reading), the longest that
must not, one outlier, and the same values while the band is off the wrist or the wearer walks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from alerting.rules.common import CRITICAL, HIGH, Fleet
from alerting.rules.thresholds import Params
from alerting.rules.vitals import Telemetry, evaluate_vitals

T0_MS = 1_795_420_800_000
NORMAL = {"hr": 72.0, "sbp": 130.0, "dbp": 80.0}


@dataclass(frozen=True)
class Case:
    """A band: readings inside it every `every_s`, how many confirm it, what it raises."""

    rule: str
    band: str
    values: dict[str, float]
    every_s: int
    readings: int  # the shortest series that alerts
    severity: int
    overrides: dict[str, float] | None = None

    def __str__(self) -> str:
        return f"{self.rule}-{self.band}"


CASES = [
    # NEWS2 111-130 at rest: the sustained window (300 s, at least 3 readings).
    Case("tachycardia", "sustained", {"hr": 125}, 30, 11, HIGH),
    Case("tachycardia", "red", {"hr": 131}, 30, 3, HIGH),  # NEWS2 score 3: 3 readings, 60 s
    Case("tachycardia", "extreme", {"hr": 180}, 30, 2, CRITICAL),  # 2 consecutive readings
    # With the defaults HR <= 40 is already red; a resident's own sustained limit still works.
    Case("bradycardia", "sustained", {"hr": 45}, 30, 11, HIGH, {"bradycardia_bpm": 45}),
    Case("bradycardia", "red", {"hr": 40}, 30, 3, HIGH),
    Case("bradycardia", "extreme", {"hr": 30}, 30, 2, CRITICAL),
    Case("hypotension", "red", {"sbp": 90, "dbp": 60}, 300, 2, HIGH),
    Case("hypotension", "extreme", {"sbp": 80, "dbp": 50}, 300, 2, CRITICAL),
    Case("hypertensive_crisis", "crisis", {"sbp": 180, "dbp": 100}, 300, 2, HIGH),
    Case("hypertensive_crisis", "crisis", {"sbp": 160, "dbp": 120}, 300, 2, HIGH),
    Case("hypertensive_crisis", "extreme", {"sbp": 220, "dbp": 110}, 300, 2, CRITICAL),
]


def series(case: Case, n: int, *, worn=1.0, walking=False, lead: int = 4) -> Telemetry:
    """`lead` normal readings, then n readings inside the band, then nothing."""
    total = lead + n
    t = T0_MS + np.arange(total, dtype=np.int64) * case.every_s * 1000
    cols = {}
    for name in ("hr", "sbp", "dbp"):
        inside = case.values.get(name, NORMAL[name])
        cols[name] = np.where(np.arange(total) < lead, NORMAL[name], inside).astype(float)
    steps = np.full(total, 500.0)
    if walking:  # the counter moves at every reading inside the band
        steps = 500.0 + np.maximum(np.arange(total) - lead + 1, 0) * 40.0
    worn_col = np.where(np.arange(total) < lead, 1.0, worn)
    codes = np.zeros(total, dtype=np.int64)
    return Telemetry(codes, t, cols["hr"], cols["sbp"], cols["dbp"], steps, worn_col)


def run(case: Case, tel: Telemetry):
    fleet = Fleet(
        device_ids=np.array(["860000000000001"]),
        resident_ids=np.array([7], dtype=np.int64),
        living_alone=np.zeros(1, bool),
        disabled=np.zeros(1, bool),
        low_income=np.zeros(1, bool),
        utc_offset_ms=np.full(1, 8 * 3_600_000, dtype=np.int64),
    )
    overrides = pd.DataFrame([case.overrides or {}], index=pd.Index([7], name="resident_id"))
    params = Params(fleet.resident_ids, overrides if case.overrides else None)
    found = evaluate_vitals(fleet, params, tel, int(tel.t_ms[-1]) + 1000)
    return [f for f in found if f.rule != "band_not_worn"]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_shortest_series_alerts_at_the_confirming_reading(case):
    tel = series(case, case.readings)
    (found,) = run(case, tel)
    assert (found.rule, found.details["band"], found.severity) == (
        case.rule,
        case.band,
        case.severity,
    )
    assert found.observed_at_ms == tel.t_ms[-1]  # the reading that completes the confirmation
    assert found.details["readings"] == case.readings
    assert found.details["held_s"] == (case.readings - 1) * case.every_s


@pytest.mark.parametrize("case", CASES, ids=str)
def test_one_reading_short_raises_nothing(case):
    assert run(case, series(case, case.readings - 1)) == []


SPANNED = [c for c in CASES if c.band in ("red", "sustained") and c.every_s == 30]


@pytest.mark.parametrize("case", SPANNED, ids=str)
def test_enough_readings_over_too_short_a_span_raise_nothing(case):
    """Readings bunched closer than the band's span (a burst from one bad contact)."""
    span_s = 300 if case.band == "sustained" else 60
    bunched = Case(**{**case.__dict__, "every_s": span_s // case.readings})
    assert run(bunched, series(bunched, case.readings)) == []


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_single_outlier_raises_nothing(case):
    tel = series(case, case.readings + 6)
    inside = np.arange(len(tel.t_ms)) >= 4
    keep_one = inside & (np.cumsum(inside) != 3)  # one reading inside, normal around it
    for name in ("hr", "sbp", "dbp"):
        column = getattr(tel, name)
        column[keep_one] = NORMAL[name]
    assert run(case, tel) == []


@pytest.mark.parametrize("case", CASES, ids=str)
def test_same_readings_while_not_worn_raise_nothing(case):
    assert run(case, series(case, case.readings * 3, worn=0.0)) == []


@pytest.mark.parametrize("case", CASES, ids=str)
def test_same_readings_while_walking_raise_nothing(case):
    assert run(case, series(case, case.readings * 3, walking=True)) == []


def test_heart_rate_of_38_every_30_s_alerts_within_a_minute_as_urgent():
    """The issue's case: at rest, HR 38 every 30 s for two minutes (was silent for 5 min)."""
    case = Case("bradycardia", "red", {"hr": 38}, 30, 3, HIGH)
    raised = [run(case, series(case, n)) for n in range(1, 5)]  # as the readings arrive
    assert [len(found) for found in raised] == [0, 0, 1, 1]  # the third, 60 s after the first
    found = raised[2][0]
    assert (found.severity, found.details["held_s"]) == (HIGH, 60.0)
    assert (found.details["hr_bpm"], found.details["news2_hr"]) == (38.0, 3)


def both_red(hr: float, sbp: float) -> Telemetry:
    """Every 30 s a heart rate or a pressure in turn (4 of each), at rest."""
    n = 8
    t = T0_MS + np.arange(n, dtype=np.int64) * 30_000
    bp = np.arange(n) % 2 == 0
    return Telemetry(
        np.zeros(n, dtype=np.int64),
        t,
        np.where(bp, np.nan, hr),
        np.where(bp, sbp, np.nan),
        np.where(bp, 60.0, np.nan),
        np.full(n, 500.0),
        np.ones(n),
    )


def test_one_score_3_parameter_is_high_and_two_together_are_critical():
    case = CASES[0]
    single = {f.rule: f for f in run(case, both_red(38, 130))}
    assert set(single) == {"bradycardia"}
    assert single["bradycardia"].severity == HIGH
    details = single["bradycardia"].details
    assert (details["news2_hr"], details["news2_sbp"], details["sbp_mmhg"]) == (3, 0, 130.0)
    combined = {f.rule: f for f in run(case, both_red(38, 88))}
    assert {rule: f.severity for rule, f in combined.items()} == {
        "bradycardia": CRITICAL,
        "hypotension": CRITICAL,
    }
    details = combined["bradycardia"].details
    assert (details["hr_bpm"], details["sbp_mmhg"]) == (38.0, 88.0)
    assert (details["news2_hr"], details["news2_sbp"], details["news2_partial"]) == (3, 3, 6)


def test_a_pressure_taken_while_walking_does_not_make_a_heart_rate_alert_critical():
    tel = both_red(38, 88)
    tel.sbp[0] = tel.dbp[0] = np.nan  # the first reading has no previous count to move from
    tel.steps[:] = 500.0 + np.arange(8) // 2 * 40.0  # the counter moves at each pressure
    (found,) = run(CASES[0], tel)  # hypotension: every pressure was taken walking
    assert (found.rule, found.severity, found.details["news2_sbp"]) == ("bradycardia", HIGH, 0)


def test_a_stored_override_of_one_reading_still_needs_two():
    """An override written before the API refused it (or by hand) cannot make one reading alert."""
    case = Case("tachycardia", "extreme", {"hr": 190}, 30, 2, CRITICAL)
    lax = Case(**{**case.__dict__, "overrides": {"tachycardia_extreme_readings": 1}})
    assert run(lax, series(lax, 1)) == []
    assert [f.severity for f in run(lax, series(lax, 2))] == [CRITICAL]


def test_a_resident_s_raised_limit_holds_the_more_severe_bands_too():
    """Staff raised tachycardia_bpm to 140 for someone whose resting rate runs high: the red
    band (131) must not page for them at 135, and pages fast above their own limit."""
    own = {"tachycardia_bpm": 140}
    usual = Case("tachycardia", "red", {"hr": 135}, 30, 3, HIGH, own)
    assert run(usual, series(usual, 20)) == []
    above = Case("tachycardia", "red", {"hr": 145}, 30, 3, HIGH, own)
    assert [(f.details["band"], f.severity) for f in run(above, series(above, 3))] == [
        ("red", HIGH)
    ]
    lowered = {"hypotension_sbp": 75}  # the extreme band (80) lies within it
    usual_bp = Case("hypotension", "extreme", {"sbp": 78, "dbp": 50}, 300, 2, CRITICAL, lowered)
    assert run(usual_bp, series(usual_bp, 4)) == []
