"""Today's reasons to call or visit, for a whole community at once, on arrays.

Terms: a *day matrix* holds one value per resident (row) and day of the window (column
`age`, 0 = today, 1 = yesterday, ...), NaN where that day has no rollup. *Recent* days are
the last complete ones (ages 1..RECENT_DAYS); the *baseline* is the resident's own earlier
days (ages RECENT_DAYS+1 .. window-1). Every check below is a mask over all residents; only
the residents it flags are turned into reasons.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

WINDOW_DAYS = 30


@dataclass(frozen=True)
class CareThresholds:
    """When a figure becomes a reason to call (defaults chosen with the care staff's practice)."""

    no_data_hours: float = 12.0
    worn_min_fraction: float = 0.5  # "most of the day" not worn: worn in under half the samples
    worn_min_samples: int = 12  # fewer samples than this say too little about wearing
    recent_days: int = 3
    baseline_min_days: int = 7
    steps_min_baseline: float = 1000.0
    steps_max_fraction: float = 0.5  # every recent day under half the usual steps
    night_out_min_fixes: int = 2
    drift_k: float = 3.0
    drift_min_hr_bpm: float = 10.0
    drift_min_sbp_mmhg: float = 15.0
    low_alerts_week: int = 5


DEFAULT_THRESHOLDS = CareThresholds()


@dataclass
class Community:
    """Everything the checks read, one row per resident in `residents` order."""

    resident_ids: np.ndarray  # int64
    has_band: np.ndarray  # bool
    days: np.ndarray  # rollup rows: a structured array, fields api.care.rollup.DAY_COLUMNS
    low_alerts_week: np.ndarray  # int: low-severity alerts opened in the last 7 days
    vital_alert_recent: np.ndarray  # bool: a vital-signs alert within the recent days
    not_reached: np.ndarray  # int: calls/visits not reaching them since they were last reached


def day_matrices(
    days: np.ndarray, resident_ids: np.ndarray, columns: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each of `columns` (one value per rollup row of `days`) as a (residents x WINDOW_DAYS)
    float matrix, NaN where a day has no row; rows of other residents are left out."""
    n = len(resident_ids)
    codes = pd.Index(resident_ids).get_indexer(days["resident_id"])
    age = days["age_d"].astype(np.int64)
    ok = (codes >= 0) & (age >= 0) & (age < WINDOW_DAYS)
    # The flat index of (age, resident): rows come day by day in resident order, so writes
    # run forward through memory. Rows left out all go to one spare cell at the end, which
    # is cheaper than selecting the others out of every column.
    cells = np.where(ok, age * n + codes, n * WINDOW_DAYS)
    out = {}
    for name, values in columns.items():
        matrix = np.full(n * WINDOW_DAYS + 1, np.nan)
        matrix[cells] = values
        out[name] = matrix[:-1].reshape(WINDOW_DAYS, n).T
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _baseline(matrix: np.ndarray, th: CareThresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per resident: the baseline days' count, median and standard deviation."""
    base = matrix[:, th.recent_days + 1 :]
    count = np.sum(~np.isnan(base), axis=1)
    with _quiet():
        return count, np.nanmedian(base, axis=1), np.nanstd(base, axis=1)


def _quiet() -> warnings.catch_warnings:
    """Silence numpy's 'all-NaN slice' warnings: an empty row is a normal case here."""
    return warnings.catch_warnings(action="ignore", category=RuntimeWarning)


def find_reasons(
    c: Community, *, now_s: float, th: CareThresholds = DEFAULT_THRESHOLDS
) -> dict[str, pd.DataFrame]:
    """Reason code -> frame of (row, figures...) for each resident it applies to."""
    d = c.days
    plain = ("samples", "worn_known", "steps", "night_out_fixes", "night_max_m", "last_t_s")
    m = day_matrices(
        d,
        c.resident_ids,
        {
            **{col: d[col] for col in plain},
            "worn_frac": _ratio(d["worn_samples"], d["worn_known"]),
            "hr": _ratio(d["hr_sum"], d["hr_n"]),
            "sbp": _ratio(d["sbp_sum"], d["sbp_n"]),
        },
    )
    rows = np.arange(len(c.resident_ids))
    found = {
        "no_data": _no_data(c, m, rows, now_s, th),
        "not_worn": _not_worn(m, rows, th),
        "low_steps": _low_steps(m, rows, th),
        "night_out": _night_out(m, rows, th),
        "vitals_drift": _vitals_drift(c, m, rows, th),
        "low_alerts": _frame(
            rows, c.low_alerts_week >= th.low_alerts_week, count=c.low_alerts_week
        ),
        "not_reached": _frame(rows, c.not_reached >= 2, attempts=c.not_reached),
    }
    return {code: frame for code, frame in found.items() if len(frame)}


def _frame(rows: np.ndarray, hit: np.ndarray, **figures: np.ndarray) -> pd.DataFrame:
    """The flagged rows with their figures."""
    return pd.DataFrame({"row": rows[hit], **{k: np.asarray(v)[hit] for k, v in figures.items()}})


def _no_data(c: Community, m: dict, rows: np.ndarray, now_s: float, th: CareThresholds):
    with _quiet():
        last = np.nanmax(m["last_t_s"], axis=1)
    hours = (now_s - last) / 3600.0
    silent = c.has_band & (np.isnan(last) | (hours >= th.no_data_hours))
    return _frame(
        rows, silent, hours=np.floor(np.nan_to_num(hours)).astype(int), ever=~np.isnan(last)
    )


def _not_worn(m: dict, rows: np.ndarray, th: CareThresholds):
    known, frac = m["worn_known"][:, 1], m["worn_frac"][:, 1]
    hit = (known >= th.worn_min_samples) & (frac < th.worn_min_fraction)
    return _frame(rows, hit, worn_pct=np.round(np.nan_to_num(frac) * 100).astype(int))


def _low_steps(m: dict, rows: np.ndarray, th: CareThresholds):
    steps = m["steps"]
    count, usual, _ = _baseline(steps, th)
    recent = steps[:, 1 : th.recent_days + 1]
    with np.errstate(invalid="ignore"):
        low = np.all(recent < th.steps_max_fraction * usual[:, None], axis=1)
    hit = (count >= th.baseline_min_days) & (usual >= th.steps_min_baseline) & low
    with _quiet():
        avg = np.nanmean(recent, axis=1)
    return _frame(
        rows,
        hit,
        days=np.full(len(rows), th.recent_days),
        steps=np.round(np.nan_to_num(avg)).astype(int),
        usual=np.round(np.nan_to_num(usual)).astype(int),
    )


def _night_out(m: dict, rows: np.ndarray, th: CareThresholds):
    """Fixes away from home at night, last night (today's early hours and yesterday's late)."""
    fixes = np.nansum(m["night_out_fixes"][:, :2], axis=1)
    with _quiet():
        far = np.nanmax(m["night_max_m"][:, :2], axis=1)
    hit = fixes >= th.night_out_min_fixes
    return _frame(
        rows, hit, fixes=fixes.astype(int), max_m=np.round(np.nan_to_num(far)).astype(int)
    )


def _vitals_drift(c: Community, m: dict, rows: np.ndarray, th: CareThresholds):
    """Daily means of the recent days away from the resident's own, with no vital alert."""
    parts = []
    for metric, floor in (("hr", th.drift_min_hr_bpm), ("sbp", th.drift_min_sbp_mmhg)):
        count, usual, spread = _baseline(m[metric], th)
        recent = m[metric][:, 1 : th.recent_days + 1]
        with _quiet():
            now_mean = np.nanmean(recent, axis=1)
        enough = (np.sum(~np.isnan(recent), axis=1) >= 2) & (count >= th.baseline_min_days)
        diff = now_mean - usual
        with np.errstate(invalid="ignore"):
            hit = (
                enough
                & (np.abs(diff) >= floor)
                & (np.abs(diff) >= th.drift_k * np.maximum(spread, 1.0))
                & ~c.vital_alert_recent
            )
        parts.append(
            _frame(
                rows,
                hit,
                metric=np.full(len(rows), metric),
                recent=np.round(np.nan_to_num(now_mean)).astype(int),
                usual=np.round(np.nan_to_num(usual)).astype(int),
            )
        )
    return pd.concat(parts, ignore_index=True)
