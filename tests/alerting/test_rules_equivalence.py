"""The vectorized rules agree with the plain per-sample implementation, finding for finding."""

from __future__ import annotations

import numpy as np
import pytest

from alerting.rules.common import step_increments
from alerting.rules.reference import evaluate_vitals_reference
from alerting.rules.thresholds import Params
from alerting.rules.vitals import evaluate_vitals, news2_hr_score, news2_sbp_score
from bench.synthetic import synthetic_fleet


def as_set(findings):
    return {(f.rule, f.device_id, f.observed_at_ms, f.severity, f.clear) for f in findings}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorized_rules_match_per_sample_reference(seed):
    fleet, tel, now_ms = synthetic_fleet(300, 90, seed=seed)
    params = Params(fleet.resident_ids)
    charging = np.random.default_rng(seed).random(300) < 0.2
    open_flags = np.random.default_rng(seed + 1).random(300) < 0.5
    fast = evaluate_vitals(fleet, params, tel, now_ms, charging=charging, open_not_worn=open_flags)
    slow = evaluate_vitals_reference(
        fleet, params, tel, now_ms, charging=charging, open_not_worn=open_flags
    )
    assert as_set(fast) == as_set(slow)
    assert {f.rule for f in fast if not f.clear} >= {
        "tachycardia",
        "bradycardia",
        "hypertensive_crisis",
        "band_not_worn",
    }


def test_news2_partial_bands():
    hr = np.array([40, 41, 50, 51, 90, 91, 110, 111, 130, 131])
    assert news2_hr_score(hr).tolist() == [3, 1, 1, 0, 0, 1, 1, 2, 2, 3]
    sbp = np.array([90, 91, 100, 101, 110, 111, 219, 220])
    assert news2_sbp_score(sbp).tolist() == [3, 2, 2, 1, 1, 0, 0, 3]


def test_step_counter_resets_never_go_negative_or_jump():
    codes = np.zeros(8, dtype=np.int64)
    t = np.arange(8) * 60_000
    # midnight reset (5000 -> 12), reboot (40 -> 0), a glitch jump (0 -> 90000)
    steps = np.array([4990, 5000, 12, 40, np.nan, 0, 90000, 90010], dtype=float)
    inc = step_increments(steps, codes, t, 4.0)
    assert (inc >= 0).all()
    assert inc.tolist()[:4] == [0, 10, 12, 28]
    assert inc[5] == 0  # reboot to zero: nothing walked
    assert inc[6] <= 4 * 60 + 30  # a jump is clamped to what a person could walk
