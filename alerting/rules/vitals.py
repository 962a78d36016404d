"""Vital-sign and wear rules over all bands' recent samples at once.

NEWS2 has seven parameters; a band measures two (heart rate, systolic pressure), so the score
computed here is a *partial* early-warning score and is labelled so on every alert.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerting.rules.common import (
    CRITICAL,
    HIGH,
    MEDIUM,
    Finding,
    Fleet,
    band_starts,
    last_row_of_each_band,
    last_row_per_band,
    no_movement_within,
    run_start_index,
    step_increments,
    sustained,
)
from alerting.rules.thresholds import Params

PARTIAL_NEWS2_NOTE = "partial NEWS2: heart rate and systolic pressure only (2 of 7 parameters)"


@dataclass
class Telemetry:
    """Samples of many bands as columns, sorted by (code, t_ms). NaN = not reported."""

    codes: np.ndarray
    t_ms: np.ndarray
    hr: np.ndarray
    sbp: np.ndarray
    dbp: np.ndarray
    steps: np.ndarray
    worn: np.ndarray  # 1.0 worn, 0.0 not worn, NaN unknown

    def take(self, rows: np.ndarray) -> Telemetry:
        return Telemetry(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


_HR_EDGES, _HR_POINTS = np.array([40, 50, 90, 110, 130]), np.array([3, 1, 0, 1, 2, 3])
_SBP_EDGES, _SBP_POINTS = np.array([90, 100, 110, 219]), np.array([3, 2, 1, 0, 3])


def news2_hr_score(hr: np.ndarray) -> np.ndarray:
    """NEWS2 pulse score: <=40:3, 41-50:1, 51-90:0, 91-110:1, 111-130:2, >=131:3."""
    return _HR_POINTS[np.searchsorted(_HR_EDGES, hr, side="left")]


def news2_sbp_score(sbp: np.ndarray) -> np.ndarray:
    """NEWS2 systolic score: <=90:3, 91-100:2, 101-110:1, 111-219:0, >=220:3."""
    return _SBP_POINTS[np.searchsorted(_SBP_EDGES, sbp, side="left")]


def _ffill_per_band(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Carry each band's last reading forward (never across bands)."""
    n = len(values)
    idx = np.where(~np.isnan(values) | band_starts(codes), np.arange(n), 0)
    return values[np.maximum.accumulate(idx)] if n else values


def partial_news2(hr: np.ndarray, sbp: np.ndarray) -> np.ndarray:
    """Partial NEWS2 (0-6) from HR and SBP; a missing parameter scores 0."""
    # NaN sorts after every edge; those rows are zeroed explicitly.
    hr_s = np.where(np.isnan(hr), 0, news2_hr_score(hr))
    sbp_s = np.where(np.isnan(sbp), 0, news2_sbp_score(sbp))
    return hr_s + sbp_s


class _ScoreAt:
    """Partial NEWS2 at given rows (HR of the row, the band's latest SBP), computed on demand:
    only the few rows that raise a finding need it."""

    def __init__(self, tel: Telemetry):
        self.tel = tel
        self.bp_rows = np.flatnonzero(~np.isnan(tel.sbp))

    def __getitem__(self, rows):
        rows_a = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        pos = np.searchsorted(self.bp_rows, rows_a, side="right") - 1
        src = self.bp_rows[np.maximum(pos, 0)] if len(self.bp_rows) else rows_a
        valid = (
            (pos >= 0) & (self.tel.codes[src] == self.tel.codes[rows_a])
            if len(self.bp_rows)
            else np.zeros(len(rows_a), dtype=bool)
        )
        sbp = np.where(valid, self.tel.sbp[src], np.nan)
        out = partial_news2(self.tel.hr[rows_a], sbp)
        return int(out[0]) if np.ndim(rows) == 0 else out


def severity_from_news2(base: int | np.ndarray, score: np.ndarray) -> np.ndarray:
    """A higher partial score raises severity, never lowers it."""
    return np.maximum(base, np.where(score >= 5, CRITICAL, np.where(score >= 3, HIGH, MEDIUM)))


def evaluate_vitals(
    fleet: Fleet,
    params: Params,
    tel: Telemetry,
    now_ms: int,
    *,
    baseline_hr: np.ndarray | None = None,
    baseline_std: np.ndarray | None = None,
    baseline_ok: np.ndarray | None = None,
    charging: np.ndarray | None = None,
    open_not_worn: np.ndarray | None = None,
) -> list[Finding]:
    """Every vital-sign and wear finding for the bands in `tel`.

    Baselines are (band code, local hour) arrays of shape (n_bands, 24).
    """
    if len(tel.codes) == 0:
        return []
    c, t = tel.codes, tel.t_ms
    moved = step_increments(tel.steps, c, t, params.per_row("max_steps_per_s", c))
    at_rest = no_movement_within(moved, c, t, params.per_row("rest_window_s", c) * 1000)
    worn_ok = tel.worn != 0.0  # unknown counts as worn: a missed alarm costs more
    score = _ScoreAt(tel)
    findings: list[Finding] = []

    has_hr = worn_ok & ~np.isnan(tel.hr)
    hr_rows = np.flatnonzero(has_hr)
    hc, ht, hr = c[hr_rows], t[hr_rows], tel.hr[hr_rows]
    rest = at_rest[hr_rows]
    sustained_specs = [
        (
            "tachycardia",
            (hr > params.per_row("tachycardia_bpm", hc)) & rest,
            params.per_row("tachycardia_duration_s", hc),
            "Sustained high heart rate at rest",
        ),
        (
            "bradycardia",
            hr <= params.per_row("bradycardia_bpm", hc),
            params.per_row("bradycardia_duration_s", hc),
            "Sustained low heart rate",
        ),
    ]
    for rule, cond, duration_s, title in sustained_specs:
        hit, start = sustained(
            cond,
            hc,
            ht,
            params.per_row("max_gap_s", hc) * 1000,
            min_ms=duration_s * 1000,
            min_rows=3,
        )
        findings += _emit(
            fleet,
            rule,
            title,
            hit,
            hc,
            ht,
            hr_rows,
            score,
            HIGH,
            lambda i, s=start: {"hr_bpm": float(hr[i]), "held_s": float((ht[i] - ht[s[i]]) / 1000)},
        )

    bp_rows = np.flatnonzero(worn_ok & ~np.isnan(tel.sbp) & ~np.isnan(tel.dbp))
    bc, bt, sbp, dbp = c[bp_rows], t[bp_rows], tel.sbp[bp_rows], tel.dbp[bp_rows]
    bp_specs = [
        (
            "hypotension",
            sbp <= params.per_row("hypotension_sbp", bc),
            params.per_row("hypotension_readings", bc),
            "Low blood pressure (confirmed)",
            HIGH,
        ),
        (
            "hypertensive_crisis",
            (sbp >= params.per_row("crisis_sbp", bc)) | (dbp >= params.per_row("crisis_dbp", bc)),
            params.per_row("crisis_readings", bc),
            "Hypertensive crisis (confirmed)",
            HIGH,
        ),
    ]
    for rule, cond, readings, title, base in bp_specs:
        hit, _ = sustained(cond, bc, bt, params.per_row("max_gap_s", bc) * 6000, min_rows=readings)
        base_sev = np.where(sbp >= 220, CRITICAL, base) if rule == "hypertensive_crisis" else base
        findings += _emit(
            fleet,
            rule,
            title,
            hit,
            bc,
            bt,
            bp_rows,
            score,
            base_sev,
            lambda i: {"sbp_mmhg": float(sbp[i]), "dbp_mmhg": float(dbp[i])},
        )

    if baseline_hr is not None and len(hr_rows):
        findings += _baseline_deviation(
            fleet,
            params,
            hc,
            ht,
            hr,
            rest,
            hr_rows,
            score,
            params.per_row("max_gap_s", hc) * 1000,
            baseline_hr,
            baseline_std,
            baseline_ok,
        )
    findings += _not_worn(fleet, params, tel, now_ms, charging, open_not_worn)
    return findings


def _emit(fleet, rule, title, hit, codes, t_ms, rows, score, base_sev, detail) -> list[Finding]:
    """One finding per band: its latest row where the rule holds, at the highest severity of
    any such row (a late batch may hold a critical reading before a lesser one)."""
    hit_rows = np.flatnonzero(hit)
    if len(hit_rows) == 0:
        return []
    base = np.broadcast_to(base_sev, len(rows))[hit_rows]
    row_sev = severity_from_news2(base, score[rows[hit_rows]])
    band_sev = np.maximum.reduceat(row_sev, np.flatnonzero(band_starts(codes[hit_rows])))
    found = []
    for i, sev in zip(last_row_per_band(hit, codes), band_sev.tolist(), strict=True):
        details = detail(i)
        details.update(news2_partial=int(score[rows[i]]), news2_note=PARTIAL_NEWS2_NOTE)
        found.append(
            Finding(
                rule=rule,
                device_id=str(fleet.device_ids[codes[i]]),
                observed_at_ms=int(t_ms[i]),
                severity=int(sev),
                title=title,
                details=details,
            )
        )
    return found


def _baseline_deviation(
    fleet, params, hc, ht, hr, rest, rows, score, gap_ms, base_hr, base_std, base_ok
) -> list[Finding]:
    hour = ((ht + fleet.utc_offset_ms[hc]) // 3_600_000) % 24
    mean, std, ok = base_hr[hc, hour], base_std[hc, hour], base_ok[hc, hour]
    allowed = np.maximum(
        params.per_row("baseline_k", hc) * std, params.per_row("baseline_min_bpm", hc)
    )
    high = (hr - mean > allowed) & rest  # activity explains a high rate
    low = mean - hr > allowed
    cond = ok & (high | low)
    hit, _ = sustained(
        cond, hc, ht, gap_ms, min_rows=3, min_ms=params.per_row("baseline_duration_s", hc) * 1000
    )
    return _emit(
        fleet,
        "baseline_deviation",
        "Heart rate far from the resident's own normal",
        hit,
        hc,
        ht,
        rows,
        score,
        MEDIUM,
        lambda i: {"hr_bpm": float(hr[i]), "baseline_bpm": round(float(mean[i]), 1)},
    )


def _not_worn(fleet, params, tel: Telemetry, now_ms: int, charging, open_not_worn) -> list[Finding]:
    """Band off the wrist for long (not while charging); cleared once worn again."""
    have = np.flatnonzero(~np.isnan(tel.worn))
    if len(have) == 0:
        return []
    c, t, worn = tel.codes[have], tel.t_ms[have], tel.worn[have]
    off = worn == 0.0
    start = run_start_index(off, c, t, np.inf)
    last = last_row_of_each_band(c)
    lc = c[last]
    is_charging = charging[lc] if charging is not None else np.zeros(len(last), dtype=bool)
    limit_ms = params.per_row("not_worn_after_s", lc) * 1000
    raise_rows = last[off[last] & ~is_charging & (now_ms - t[start[last]] >= limit_ms)]
    found = [
        Finding(
            rule="band_not_worn",
            device_id=str(fleet.device_ids[c[i]]),
            observed_at_ms=int(t[i]),
            severity=MEDIUM,
            title="Band not worn",
            details={"off_since_ms": int(t[start[i]])},
        )
        for i in raise_rows
    ]
    if open_not_worn is not None:
        clear_rows = last[~off[last] & open_not_worn[lc]]
        found += [
            Finding(
                rule="band_not_worn",
                device_id=str(fleet.device_ids[c[i]]),
                observed_at_ms=int(t[i]),
                clear=True,
            )
            for i in clear_rows
        ]
    return found
