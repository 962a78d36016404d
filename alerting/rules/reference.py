"""The vital-sign and wear rules written plainly, one sample at a time.

Not used in production: it is the oracle the vectorized rules are tested against and the
baseline bench/engine_throughput.py measures them against. Same inputs, same findings.
"""

from __future__ import annotations

import math

from alerting.rules.common import CRITICAL, HIGH, MEDIUM, Finding, Fleet
from alerting.rules.thresholds import Params
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


def _sev(base: int, score: int) -> int:
    return max(base, CRITICAL if score >= 5 else HIGH if score >= 3 else MEDIUM)


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
    p = {
        name: _param(params, name, code)
        for name in (
            "max_steps_per_s",
            "rest_window_s",
            "max_gap_s",
            "tachycardia_bpm",
            "tachycardia_duration_s",
            "bradycardia_bpm",
            "bradycardia_duration_s",
            "hypotension_sbp",
            "hypotension_readings",
            "crisis_sbp",
            "crisis_dbp",
            "crisis_readings",
            "not_worn_after_s",
        )
    }
    last_steps, last_steps_t, sbp_now = None, None, math.nan
    for s in samples:  # steps taken since the previous reading, and the latest SBP
        s["moved"] = 0.0
        if not math.isnan(s["steps"]):
            if last_steps is not None:
                d = s["steps"] - last_steps
                if d < 0:
                    d = s["steps"]
                d = min(d, p["max_steps_per_s"] * max(s["t"] - last_steps_t, 0) / 1000.0 + 30.0)
                s["moved"] = d
            last_steps, last_steps_t = s["steps"], s["t"]
        if not math.isnan(s["sbp"]):
            sbp_now = s["sbp"]
        s["score"] = (0 if math.isnan(s["hr"]) else _hr_score(s["hr"])) + (
            0 if math.isnan(sbp_now) else _sbp_score(sbp_now)
        )
    left, in_window = 0, 0.0  # sliding window of steps over (t - rest_window, t]
    for s in samples:
        in_window += s["moved"]
        while samples[left]["t"] <= s["t"] - p["rest_window_s"] * 1000:
            in_window -= samples[left]["moved"]
            left += 1
        s["rest"] = in_window == 0
    found = []
    hr_rows = [s for s in samples if s["worn"] != 0.0 and not math.isnan(s["hr"])]
    for rule, title, test, duration in (
        (
            "tachycardia",
            "Sustained high heart rate at rest",
            lambda s: s["hr"] > p["tachycardia_bpm"] and s["rest"],
            p["tachycardia_duration_s"],
        ),
        (
            "bradycardia",
            "Sustained low heart rate",
            lambda s: s["hr"] <= p["bradycardia_bpm"],
            p["bradycardia_duration_s"],
        ),
    ):
        hit, start, prev, worst = None, None, None, 0
        for s in hr_rows:
            if test(s):
                if start is None or prev is None or s["t"] - prev["t"] > p["max_gap_s"] * 1000:
                    start, count = s, 0
                count += 1
                if s["t"] - start["t"] >= duration * 1000 and count >= 3:
                    hit = (s, start)
                    worst = max(worst, _sev(HIGH, s["score"]))
                prev = s
            else:
                start, prev = None, None
        if hit:
            s, st = hit
            found.append(
                Finding(
                    rule=rule,
                    device_id=device_id,
                    observed_at_ms=s["t"],
                    severity=worst,
                    title=title,
                    details={
                        "hr_bpm": s["hr"],
                        "held_s": (s["t"] - st["t"]) / 1000,
                        "news2_partial": s["score"],
                        "news2_note": PARTIAL_NEWS2_NOTE,
                    },
                )
            )
    bp_rows = [
        s
        for s in samples
        if s["worn"] != 0.0 and not math.isnan(s["sbp"]) and not math.isnan(s["dbp"])
    ]
    for rule, title, test, readings in (
        (
            "hypotension",
            "Low blood pressure (confirmed)",
            lambda s: s["sbp"] <= p["hypotension_sbp"],
            p["hypotension_readings"],
        ),
        (
            "hypertensive_crisis",
            "Hypertensive crisis (confirmed)",
            lambda s: s["sbp"] >= p["crisis_sbp"] or s["dbp"] >= p["crisis_dbp"],
            p["crisis_readings"],
        ),
    ):
        hit, count, prev, worst = None, 0, None, 0
        for s in bp_rows:
            if test(s):
                if prev is None or s["t"] - prev["t"] > p["max_gap_s"] * 6000:
                    count = 0
                count += 1
                if count >= readings:
                    hit = s
                    critical = rule == "hypertensive_crisis" and s["sbp"] >= 220
                    worst = max(worst, _sev(CRITICAL if critical else HIGH, s["score"]))
                prev = s
            else:
                count, prev = 0, None
        if hit:
            found.append(
                Finding(
                    rule=rule,
                    device_id=device_id,
                    observed_at_ms=hit["t"],
                    severity=worst,
                    title=title,
                    details={
                        "sbp_mmhg": hit["sbp"],
                        "dbp_mmhg": hit["dbp"],
                        "news2_partial": hit["score"],
                        "news2_note": PARTIAL_NEWS2_NOTE,
                    },
                )
            )
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
