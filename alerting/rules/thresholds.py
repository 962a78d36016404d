"""Rule thresholds as data: defaults here, per-resident overrides in table alert_thresholds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import psycopg

# Fewest readings that may confirm a vital band: a wrist optical sensor gives spurious single
# readings, so one reading never raises a vital alert, whatever is stored in alert_thresholds.
MIN_READINGS = 2

# name -> default. Durations in seconds, pressures in mmHg, rates in bpm.
DEFAULTS: dict[str, float] = {
    # Vital-sign bands: each is a range of values and the readings that confirm it (how many
    # consecutive readings in the range, over at least how long). See alerting/rules/bands.py
    # and the sources in alerting/README.md. HR in bpm, SBP/DBP in mmHg.
    # Heart rate high, at rest. Sustained: HR above tachycardia_bpm (NEWS2 111-130 scores 2).
    "tachycardia_bpm": 120,  # HR above this ...
    "tachycardia_duration_s": 300,  # ... at rest for this long ...
    "tachycardia_readings": 3,  # ... over at least this many readings
    "tachycardia_red_bpm": 131,  # NEWS2 score 3: HR at or above this
    "tachycardia_red_readings": 3,
    "tachycardia_red_span_s": 60,
    "tachycardia_extreme_bpm": 180,  # HR at or above this at rest
    "tachycardia_extreme_readings": 2,
    "tachycardia_extreme_span_s": 0,
    # Heart rate low (NEWS2: <= 40 scores 3; there is no score-2 range).
    "bradycardia_bpm": 40,  # HR at or below this ...
    "bradycardia_duration_s": 300,
    "bradycardia_readings": 3,
    "bradycardia_red_bpm": 40,  # NEWS2 score 3: HR at or below this
    "bradycardia_red_readings": 3,
    "bradycardia_red_span_s": 60,
    "bradycardia_extreme_bpm": 30,
    "bradycardia_extreme_readings": 2,
    "bradycardia_extreme_span_s": 0,
    # Systolic pressure low (NEWS2: SBP <= 90 scores 3).
    "hypotension_sbp": 90,  # SBP at or below this ...
    "hypotension_readings": 2,  # ... in consecutive readings that confirm it
    "hypotension_span_s": 0,
    "hypotension_extreme_sbp": 80,
    "hypotension_extreme_readings": 2,
    "hypotension_extreme_span_s": 0,
    # Hypertensive crisis: SBP >= 180 or DBP >= 120; SBP >= 220 (NEWS2 score 3) is extreme.
    "crisis_sbp": 180,
    "crisis_dbp": 120,
    "crisis_readings": 2,
    "crisis_span_s": 0,
    "crisis_extreme_sbp": 220,
    "crisis_extreme_readings": 2,
    "crisis_extreme_span_s": 0,
    "max_gap_s": 600,  # a gap this long in the data breaks a sustained condition
    "rest_window_s": 600,  # at rest = the step counter did not move over this window
    "max_steps_per_s": 4,  # faster counter increases are glitches, clamped
    # Own baseline: same local hour over past weeks.
    "baseline_k": 3.0,  # deviation beyond k standard deviations ...
    "baseline_min_bpm": 25,  # ... and at least this many bpm
    "baseline_duration_s": 900,
    "baseline_min_days": 7,
    # Wear and device health.
    "not_worn_after_s": 1800,
    "offline_factor": 10,  # offline after this many reporting intervals without a message
    "low_battery_pct": 15,
    "battery_recovered_pct": 25,
    # Inactivity, for residents living alone: no steps from window start until the deadline.
    "inactivity_window_start_h": 6,
    "inactivity_deadline_h": 11,
    "inactivity_window_end_h": 21,
    # Geofences.
    "fence_dwell_s": 300,
    "max_speed_mps": 55,  # fixes implying a faster move are ignored
}


def defaults() -> dict[str, float]:
    """Every threshold's default by name: the public read of DEFAULTS (a copy to keep)."""
    return dict(DEFAULTS)


def override_error(name: str, value: float) -> str | None:
    """Why an override cannot be used (None if it can): unknown name or value out of range."""
    if name not in DEFAULTS:
        return f"unknown threshold {name!r}"
    if not math.isfinite(value) or value < 0:
        return f"{name} must be a finite number >= 0"
    if name.endswith("_h") and value > 24:
        return f"{name} is an hour of the day (0-24)"
    if name.endswith("_readings") and (value < MIN_READINGS or value != int(value)):
        return f"{name} is a whole number of readings >= {MIN_READINGS} (one reading is no proof)"
    return None


def load_overrides(conn: psycopg.Connection) -> pd.DataFrame:
    """Per-resident overrides as a frame indexed by resident_id, one column per name."""
    rows = conn.execute("SELECT resident_id, name, value FROM alert_thresholds").fetchall()
    known = [r for r in rows if r[1] in DEFAULTS]
    if not known:
        return pd.DataFrame(columns=list(DEFAULTS), dtype=float)
    frame = pd.DataFrame(known, columns=["resident_id", "name", "value"])
    return frame.pivot(index="resident_id", columns="name", values="value")


class Params:
    """Threshold values for each band (by its resident), as arrays aligned to band codes."""

    def __init__(self, resident_of_code: np.ndarray, overrides: pd.DataFrame | None = None):
        self._resident = resident_of_code
        self._overrides = overrides if overrides is not None else pd.DataFrame()
        self._cache: dict[str, np.ndarray] = {}

    def per_band(self, name: str) -> np.ndarray:
        """The threshold for each band code (default unless its resident overrides it)."""
        if name not in self._cache:
            values = np.full(len(self._resident), float(DEFAULTS[name]))
            if name in self._overrides.columns and len(self._overrides):
                column = self._overrides[name].dropna()
                hit = np.isin(self._resident, column.index.to_numpy())
                if hit.any():
                    values[hit] = column.reindex(self._resident[hit]).to_numpy()
            self._cache[name] = values
        return self._cache[name]

    def per_row(self, name: str, codes: np.ndarray) -> np.ndarray | float:
        """The threshold for each row whose band is given by `codes` (a scalar if uniform)."""
        values = self.per_band(name)
        if name not in self._overrides.columns:
            return float(DEFAULTS[name])  # nobody overrides it: broadcast the default
        return values[codes]
