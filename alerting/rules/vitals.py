"""Vital-sign and wear rules over all bands' recent samples at once.

NEWS2 has seven parameters; a band measures two (heart rate, systolic pressure), so the score
computed here is a *partial* early-warning score and is labelled so on every alert.

"Band" means two things here: a wristband (a row's `code`), and a vital rule's band of values
(`rules/bands.py`: a range with its own confirmation). The second is always called a vital
band or a rule's band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerting.rules.bands import COMPARE, VITAL_RULES, VitalRule
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
from alerting.rules.thresholds import MIN_READINGS, Params

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


class _Context:
    """Each wristband's latest usable HR and SBP (worn, not walking) at given rows, on demand: only
    the few rows that raise a finding need them."""

    def __init__(self, tel: Telemetry, usable: np.ndarray):
        self.codes = tel.codes
        self.columns = {"hr": tel.hr, "sbp": tel.sbp}
        self.have = {n: np.flatnonzero(usable & ~np.isnan(v)) for n, v in self.columns.items()}

    def latest(self, name: str, rows: np.ndarray) -> np.ndarray:
        """The wristband's latest usable reading of `name` at or before each row (NaN: none)."""
        have = self.have[name]
        if len(have) == 0:
            return np.full(len(rows), np.nan)
        pos = np.searchsorted(have, rows, side="right") - 1
        src = have[np.maximum(pos, 0)]
        valid = (pos >= 0) & (self.codes[src] == self.codes[rows])
        return np.where(valid, self.columns[name][src], np.nan)


def sub_scores(hr: np.ndarray, sbp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NEWS2 sub-scores of HR and SBP; a missing parameter scores 0."""
    # NaN sorts after every edge; those rows are zeroed explicitly.
    hr_s = np.where(np.isnan(hr), 0, news2_hr_score(hr))
    sbp_s = np.where(np.isnan(sbp), 0, news2_sbp_score(sbp))
    return hr_s, sbp_s


def news2_severity(hr_score: np.ndarray, sbp_score: np.ndarray) -> np.ndarray:
    """What the sub-scores call for: two score-3 parameters (or a partial score >= 5) critical;
    one score-3 parameter (or a partial score >= 3) high, NEWS2's urgent response; else medium."""
    red = (hr_score == 3).astype(np.int64) + (sbp_score == 3)
    partial = hr_score + sbp_score
    return np.where(
        (red >= 2) | (partial >= 5), CRITICAL, np.where((red >= 1) | (partial >= 3), HIGH, MEDIUM)
    )


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
    # Walking shakes a wrist optical sensor: a reading taken while steps were counted decides
    # nothing, and a fast heart rate counts only at rest (a walk explains it for a while).
    still = moved == 0
    ctx = _Context(tel, worn_ok & still)
    reads = {
        "hr": (_Rows.of(tel, worn_ok & ~np.isnan(tel.hr)), {"hr_bpm": tel.hr}),
        "bp": (
            _Rows.of(tel, worn_ok & ~np.isnan(tel.sbp) & ~np.isnan(tel.dbp)),
            {"sbp_mmhg": tel.sbp, "dbp_mmhg": tel.dbp},
        ),
    }
    findings: list[Finding] = []
    for rule in VITAL_RULES:
        rows, own = reads[rule.reads]
        usable = (at_rest if rule.at_rest else still)[rows.index]
        level, start = _confirmed_band(rule, params, rows, usable)
        bands = [(band.level, band.severity) for band in rule.bands]
        emit = _Emit(fleet, tel, ctx, rows.index, own)
        findings += emit(rule.rule, rule.title, level, start, bands)
    hr_rows = reads["hr"][0].index
    if baseline_hr is not None and len(hr_rows):
        findings += _baseline_deviation(
            _Emit(fleet, tel, ctx, hr_rows, reads["hr"][1]),
            params,
            at_rest[hr_rows],
            baseline_hr,
            baseline_std,
            baseline_ok,
        )
    findings += _not_worn(fleet, params, tel, now_ms, charging, open_not_worn)
    return findings


def _confirmed_band(
    rule: VitalRule, params: Params, rows: _Rows, usable: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each of the rule's rows: its most severe confirmed vital band (-1: none), and the
    first row (an index into the rows) of that vital band's run."""
    c, t = rows.codes, rows.t_ms
    gap_ms = params.per_row("max_gap_s", c) * 1000 * rule.gap_factor
    level = np.full(len(c), -1, dtype=np.int64)
    start = np.zeros(len(c), dtype=np.int64)
    within = usable  # vital bands nest: each lies within every less severe one of its rule
    for b, band in enumerate(rule.bands):
        inside = np.zeros(len(c), dtype=bool)
        for column, op, name in band.limits:
            inside |= COMPARE[op](rows.values[column], params.per_row(name, c))
        within = within & inside
        hit, run_start = sustained(
            within,
            c,
            t,
            gap_ms,
            min_ms=params.per_row(band.span_s, c) * 1000,
            min_rows=np.maximum(params.per_row(band.readings, c), MIN_READINGS),
        )
        level[hit] = b
        start[hit] = run_start[hit]
    return level, start


@dataclass
class _Rows:
    """The rows a group of rules reads (indices into the telemetry) and their columns."""

    index: np.ndarray
    codes: np.ndarray
    t_ms: np.ndarray
    values: dict[str, np.ndarray]

    @classmethod
    def of(cls, tel: Telemetry, mask: np.ndarray) -> _Rows:
        index = np.flatnonzero(mask)
        values = {name: getattr(tel, name)[index] for name in ("hr", "sbp", "dbp")}
        return cls(index, tel.codes[index], tel.t_ms[index], values)


class _Emit:
    """Findings from a rule's confirmed rows: one per wristband, at its latest
    confirmed reading, with the severity and details of its most severe one (a late batch may
    hold a critical reading before lesser ones).

    `own` names the rule's own readings, e.g. {"hr_bpm": tel.hr}: they stand in for the
    context's latest values in scores and details.
    """

    def __init__(self, fleet: Fleet, tel: Telemetry, ctx: _Context, rows: np.ndarray, own):
        self.fleet, self.tel, self.ctx, self.rows, self.own = fleet, tel, ctx, rows, own

    def __call__(self, rule, title, level, start, bands, extra=None) -> list[Finding]:
        hit = np.flatnonzero(level >= 0)
        if len(hit) == 0:
            return []
        g = self.rows[hit]
        own = self.own
        hr = own["hr_bpm"][g] if "hr_bpm" in own else self.ctx.latest("hr", g)
        sbp = own["sbp_mmhg"][g] if "sbp_mmhg" in own else self.ctx.latest("sbp", g)
        hr_s, sbp_s = sub_scores(hr, sbp)
        band_sev = np.array([sev for _, sev in bands])[level[hit]]
        row_sev = np.maximum(band_sev, news2_severity(hr_s, sbp_s))
        c, t = self.tel.codes[g], self.tel.t_ms[g]
        firsts = band_starts(c)
        worst = np.maximum.reduceat(row_sev, np.flatnonzero(firsts))
        deciding = last_row_per_band(row_sev == worst[np.cumsum(firsts) - 1], c)
        found = []
        for j_last, j, sev in zip(last_row_of_each_band(c), deciding, worst.tolist(), strict=True):
            i = hit[j]
            details = {
                "band": bands[level[i]][0],
                "readings": int(i - start[i] + 1),
                "held_s": float((t[j] - self.tel.t_ms[self.rows[start[i]]]) / 1000),
                "hr_bpm": _number(hr[j]),
                "sbp_mmhg": _number(sbp[j]),
                **{key: _number(column[g[j]]) for key, column in own.items()},
                **(extra(i) if extra else {}),
                "news2_hr": int(hr_s[j]),
                "news2_sbp": int(sbp_s[j]),
                "news2_partial": int(hr_s[j] + sbp_s[j]),
                "news2_note": PARTIAL_NEWS2_NOTE,
                "decided_at_ms": int(t[j]),
            }
            found.append(
                Finding(
                    rule=rule,
                    device_id=str(self.fleet.device_ids[c[j_last]]),
                    observed_at_ms=int(t[j_last]),
                    severity=int(sev),
                    title=title,
                    details=details,
                )
            )
        return found


def _number(value) -> float | None:
    """A reading for JSON details (None if not reported)."""
    return None if np.isnan(value) else float(value)


def _baseline_deviation(emit: _Emit, params, rest, base_hr, base_std, base_ok) -> list[Finding]:
    """HR far from the resident's own mean for the local hour, for baseline_duration_s."""
    hc, ht, hr = emit.tel.codes[emit.rows], emit.tel.t_ms[emit.rows], emit.tel.hr[emit.rows]
    hour = ((ht + emit.fleet.utc_offset_ms[hc]) // 3_600_000) % 24
    mean, std, ok = base_hr[hc, hour], base_std[hc, hour], base_ok[hc, hour]
    allowed = np.maximum(
        params.per_row("baseline_k", hc) * std, params.per_row("baseline_min_bpm", hc)
    )
    high = (hr - mean > allowed) & rest  # activity explains a high rate
    low = mean - hr > allowed
    cond = ok & (high | low)
    gap_ms = params.per_row("max_gap_s", hc) * 1000
    min_ms = params.per_row("baseline_duration_s", hc) * 1000
    hit, start = sustained(cond, hc, ht, gap_ms, min_rows=3, min_ms=min_ms)
    return emit(
        "baseline_deviation",
        "Heart rate far from the resident's own normal",
        np.where(hit, 0, -1),
        start,
        [("baseline", MEDIUM)],
        lambda i: {"baseline_bpm": round(float(mean[i]), 1)},
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
