"""Which thresholds make up each vital rule's bands: data shared by the engine and its oracle.

A *band* is a range of values (e.g. HR >= 131) with its own confirmation: at least `readings`
consecutive usable readings in the range, the first and last at least `span_s` apart. A rule
holds at a reading when any of its bands is confirmed there; the most severe confirmed band
decides the rule's severity (NEWS2 sub-scores may raise it further, see vitals.py). Bands are
listed from least to most severe, so a later band wins a tie, and they nest: a reading is in a
band only if it is also in every band before it, so a resident's raised `tachycardia_bpm` of
140 holds the red and extreme bands above 140 too.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from alerting.rules.common import CRITICAL, HIGH

# A limit: (column, comparison, threshold name); a band holds when any of its limits does.
Limit = tuple[str, str, str]


@dataclass(frozen=True)
class Band:
    """One range of a vital rule and the readings that confirm it."""

    level: str  # sustained | red (NEWS2 score 3) | crisis | extreme
    limits: tuple[Limit, ...]
    readings: str  # threshold name: consecutive readings in the range
    span_s: str  # threshold name: seconds from the first to the last of them
    severity: int


@dataclass(frozen=True)
class VitalRule:
    """A vital-sign rule: the readings it judges and its bands."""

    rule: str
    title: str
    reads: str  # "hr": rows with a heart rate; "bp": rows with systolic and diastolic pressure
    at_rest: bool  # True: only readings with no steps over rest_window_s (else: not walking)
    gap_factor: int  # a gap over gap_factor * max_gap_s between readings breaks a run
    bands: tuple[Band, ...]


def _band(level: str, limits: tuple[Limit, ...], prefix: str, severity: int, span="span_s"):
    return Band(level, limits, f"{prefix}_readings", f"{prefix}_{span}", severity)


VITAL_RULES: tuple[VitalRule, ...] = (
    VitalRule(
        "tachycardia",
        "Sustained high heart rate at rest",
        "hr",
        True,
        1,
        (
            _band(
                "sustained", (("hr", ">", "tachycardia_bpm"),), "tachycardia", HIGH, "duration_s"
            ),
            _band("red", (("hr", ">=", "tachycardia_red_bpm"),), "tachycardia_red", HIGH),
            _band(
                "extreme",
                (("hr", ">=", "tachycardia_extreme_bpm"),),
                "tachycardia_extreme",
                CRITICAL,
            ),
        ),
    ),
    VitalRule(
        "bradycardia",
        "Sustained low heart rate",
        "hr",
        False,
        1,
        (
            _band(
                "sustained", (("hr", "<=", "bradycardia_bpm"),), "bradycardia", HIGH, "duration_s"
            ),
            _band("red", (("hr", "<=", "bradycardia_red_bpm"),), "bradycardia_red", HIGH),
            _band(
                "extreme",
                (("hr", "<=", "bradycardia_extreme_bpm"),),
                "bradycardia_extreme",
                CRITICAL,
            ),
        ),
    ),
    VitalRule(
        "hypotension",
        "Low blood pressure (confirmed)",
        "bp",
        False,
        6,
        (
            _band("red", (("sbp", "<=", "hypotension_sbp"),), "hypotension", HIGH),
            _band(
                "extreme",
                (("sbp", "<=", "hypotension_extreme_sbp"),),
                "hypotension_extreme",
                CRITICAL,
            ),
        ),
    ),
    VitalRule(
        "hypertensive_crisis",
        "Hypertensive crisis (confirmed)",
        "bp",
        False,
        6,
        (
            _band(
                "crisis", (("sbp", ">=", "crisis_sbp"), ("dbp", ">=", "crisis_dbp")), "crisis", HIGH
            ),
            _band("extreme", (("sbp", ">=", "crisis_extreme_sbp"),), "crisis_extreme", CRITICAL),
        ),
    ),
)

# Comparisons both implementations share (numpy arrays or floats alike).
COMPARE = {">": operator.gt, ">=": operator.ge, "<=": operator.le}
