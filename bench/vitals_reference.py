"""The vital-sign and wear rules written plainly, one sample at a time.

Not used in production: it is the oracle the vectorized rules are tested against and the
baseline bench/engine_throughput.py measures them against. Same inputs, same findings.
"""

from __future__ import annotations

import math

from alerting.rules.bands import COMPARE, VITAL_RULES, VitalRule
from alerting.rules.common import CRITICAL, HIGH, MEDIUM, Finding, Fleet
from alerting.rules.thresholds import DEFAULTS, MIN_READINGS, Params
from alerting.rules.vitals import PARTIAL_NEWS2_NOTE, Telemetry


def _hr_score(hr: float) -> int:
    if hr <= 40:
        return 3
    if hr <= 50:
        return 1
    if hr <= 90:
        return 0
    if hr <= 110:
        return 1
    if hr <= 130:
        return 2
    return 3  # above 130 (NEWS2: >= 131 for whole beats)


def _sbp_score(sbp: float) -> int:
    if sbp <= 90:
        return 3
    if sbp <= 100:
        return 2
    if sbp <= 110:
        return 1
    if sbp <= 219:
        return 0
    return 3  # above 219


def _sev(hr_score: int, sbp_score: int) -> int:
    red = (hr_score == 3) + (sbp_score == 3)
    partial = hr_score + sbp_score
    if red >= 2 or partial >= 5:
        return CRITICAL
    return HIGH if red >= 1 or partial >= 3 else MEDIUM


def _param(params: Params, name: str, code: int) -> float:
    return float(params.per_band(name)[code])


def evaluate_vitals_reference(
    fleet: Fleet, params: Params, tel: Telemetry, now_ms: int, *, charging=None, open_not_worn=None
) -> list[Finding]:
    """Same findings as alerting.rules.vitals.evaluate_vitals (without baselines)."""
    bands: dict[int, list[dict]] = {}
    for i in range(len(tel.codes)):
        bands.setdefault(int(tel.codes[i]), []).append(
            {
                "t": int(tel.t_ms[i]),
                "hr": float(tel.hr[i]),
                "sbp": float(tel.sbp[i]),
                "dbp": float(tel.dbp[i]),
                "steps": float(tel.steps[i]),
                "worn": float(tel.worn[i]),
            }
        )
    found: list[Finding] = []
    for code, samples in bands.items():
        found += _band(fleet, params, code, samples, now_ms, charging, open_not_worn)
    return found


def _band(fleet, params, code, samples, now_ms, charging, open_not_worn) -> list[Finding]:
    device_id = str(fleet.device_ids[code])

    p = {name: _param(params, name, code) for name in DEFAULTS}

    last_steps, last_steps_t = None, None
    latest = {"hr": math.nan, "sbp": math.nan}  # latest usable readings: worn, not walking
    for s in samples:  # steps taken since the previous reading
        s["moved"] = 0.0
        if not math.isnan(s["steps"]):
            if last_steps is not None:
                d = s["steps"] - last_steps
                if d < 0:
                    d = s["steps"]
                d = min(d, p["max_steps_per_s"] * max(s["t"] - last_steps_t, 0) / 1000.0 + 30.0)
                s["moved"] = d
            last_steps, last_steps_t = s["steps"], s["t"]
        if s["worn"] != 0.0 and s["moved"] == 0:
            for name in ("hr", "sbp"):
                if not math.isnan(s[name]):
                    latest[name] = s[name]
        s["hr_latest"], s["sbp_latest"] = latest["hr"], latest["sbp"]
    left, in_window = 0, 0.0  # sliding window of steps over (t - rest_window, t]
    for s in samples:
        in_window += s["moved"]
        while samples[left]["t"] <= s["t"] - p["rest_window_s"] * 1000:
            in_window -= samples[left]["moved"]
            left += 1
        s["rest"] = in_window == 0
    found = []
    for rule in VITAL_RULES:
        found += _rule(rule, p, device_id, samples)
    found += _worn(p, code, device_id, samples, now_ms, charging, open_not_worn)
    return found


def _rule(
    rule: VitalRule, p: dict[str, float], device_id: str, samples: list[dict]
) -> list[Finding]:
    """One vital rule over one band's samples, reading by reading."""
    own = ("hr",) if rule.reads == "hr" else ("sbp", "dbp")
    rows = [s for s in samples if s["worn"] != 0.0 and not any(math.isnan(s[k]) for k in own)]
    gap_ms = p["max_gap_s"] * 1000 * rule.gap_factor
    run_start = [-1] * len(rule.bands)  # per band: first row of its current run (-1: none)
    last, decided, worst = None, None, 0
    for k, s in enumerate(rows):
        usable = s["rest"] if rule.at_rest else s["moved"] == 0
        confirmed = None
        within = usable  # and inside every less severe band of the rule
        for b, band in enumerate(rule.bands):
            inside = False
            for column, op, name in band.limits:
                inside = inside or COMPARE[op](s[column], p[name])
            within = within and inside
            if not within:
                run_start[b] = -1
                continue
            if run_start[b] < 0 or s["t"] - rows[k - 1]["t"] > gap_ms:
                run_start[b] = k
            first = run_start[b]
            readings = max(p[band.readings], MIN_READINGS)
            if s["t"] - rows[first]["t"] >= p[band.span_s] * 1000 and k - first + 1 >= readings:
                confirmed = (band, first)
        if confirmed is None:
            continue
        band, first = confirmed
        hr = s["hr"] if rule.reads == "hr" else s["hr_latest"]
        sbp = s["sbp"] if rule.reads == "bp" else s["sbp_latest"]
        hr_s = 0 if math.isnan(hr) else _hr_score(hr)
        sbp_s = 0 if math.isnan(sbp) else _sbp_score(sbp)
        sev = max(band.severity, _sev(hr_s, sbp_s))
        last = s
        if sev >= worst:
            worst = sev
            decided = {
                "band": band.level,
                "readings": k - first + 1,
                "held_s": (s["t"] - rows[first]["t"]) / 1000,
                "hr_bpm": _number(hr),
                "sbp_mmhg": _number(sbp),
                **({"dbp_mmhg": s["dbp"]} if rule.reads == "bp" else {}),
                "news2_hr": hr_s,
                "news2_sbp": sbp_s,
                "news2_partial": hr_s + sbp_s,
                "news2_note": PARTIAL_NEWS2_NOTE,
                "decided_at_ms": s["t"],
            }
    if last is None:
        return []
    return [
        Finding(
            rule=rule.rule,
            device_id=device_id,
            observed_at_ms=last["t"],
            severity=worst,
            title=rule.title,
            details=decided or {},
        )
    ]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _worn(p, code, device_id, samples, now_ms, charging, open_not_worn) -> list[Finding]:
    """Band not worn for long (not while charging), or worn again while an alert is open."""
    found = []
    worn_rows = [s for s in samples if not math.isnan(s["worn"])]
    if worn_rows:
        last = worn_rows[-1]
        if last["worn"] == 0.0:
            start = last
            for s in reversed(worn_rows):
                if s["worn"] != 0.0:
                    break
                start = s
            is_charging = charging is not None and bool(charging[code])
            if not is_charging and now_ms - start["t"] >= p["not_worn_after_s"] * 1000:
                found.append(
                    Finding(
                        rule="band_not_worn",
                        device_id=device_id,
                        observed_at_ms=last["t"],
                        severity=MEDIUM,
                        title="Band not worn",
                        details={"off_since_ms": start["t"]},
                    )
                )
        elif open_not_worn is not None and open_not_worn[code]:
            found.append(
                Finding(
                    rule="band_not_worn", device_id=device_id, observed_at_ms=last["t"], clear=True
                )
            )
    return found
