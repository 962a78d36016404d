"""The vectorized rules agree with the plain per-sample implementation, finding for finding."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alerting.rules.bands import VITAL_RULES
from alerting.rules.common import step_increments
from alerting.rules.thresholds import DEFAULTS, Params
from alerting.rules.vitals import evaluate_vitals, news2_hr_score, news2_sbp_score
from bench.synthetic import synthetic_fleet
from bench.vitals_reference import evaluate_vitals_reference


def as_set(findings):
    """Findings compared whole: when, how severe, and the details that decided it."""
    return {
        (f.rule, f.device_id, f.observed_at_ms, f.severity, f.clear, json.dumps(f.details))
        for f in findings
    }


def random_overrides(rng: np.random.Generator, residents: np.ndarray) -> pd.DataFrame:
    """A third of the residents get their own value for every band threshold, moved by up to
    a third either way (a few readings counts above the minimum, spans up to 10 min)."""
    names = sorted(
        {name for rule in VITAL_RULES for band in rule.bands for *_, name in band.limits}
        | {n for rule in VITAL_RULES for band in rule.bands for n in (band.readings, band.span_s)}
    )
    chosen = residents[rng.random(len(residents)) < 1 / 3]
    frame = pd.DataFrame(index=pd.Index(chosen, name="resident_id"), columns=names, dtype=float)
    for name in names:
        default = DEFAULTS[name]
        if name.endswith("_readings"):
            values = rng.integers(1, 6, len(chosen)).astype(float)  # 1 is stored, 2 applies
        elif name.endswith(("_span_s", "_duration_s")):
            values = rng.choice([0.0, 30.0, 60.0, 120.0, 300.0, 600.0], len(chosen))
        else:
            values = np.round(default * rng.uniform(2 / 3, 4 / 3, len(chosen)))
        frame[name] = np.where(rng.random(len(chosen)) < 0.5, values, np.nan)
    return frame


@pytest.mark.parametrize(
    ("seed", "overridden"), [(1, False), (2, False), (3, False), (4, True), (5, True), (6, True)]
)
def test_vectorized_rules_match_per_sample_reference(seed, overridden):
    fleet, tel, now_ms = synthetic_fleet(300, 90, seed=seed)
    rng = np.random.default_rng(seed)
    overrides = random_overrides(rng, fleet.resident_ids) if overridden else None
    params = Params(fleet.resident_ids, overrides)
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
        "hypotension",
        "hypertensive_crisis",
        "band_not_worn",
    }
    decided = {(f.rule, f.details["band"], f.severity) for f in fast if "band" in f.details}
    assert {(r, b) for r, b, _ in decided} >= {
        ("tachycardia", "red"),
        ("tachycardia", "extreme"),
        ("bradycardia", "red"),
        ("bradycardia", "extreme"),
        ("hypotension", "red"),
        ("hypotension", "extreme"),
        ("hypertensive_crisis", "crisis"),
        ("tachycardia", "sustained"),
    }
    assert ("bradycardia", "red", 4) in decided  # with a score-3 pressure: two red scores


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
