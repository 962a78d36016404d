"""Geofence exits over all bands' recent fixes at once.

A resident's active fences together form the safe zone. Per fix: INSIDE if the point is in
any active fence, OUTSIDE if its accuracy circle lies wholly outside every active fence,
AMBIGUOUS otherwise (ambiguous fixes neither start nor end an exit: GPS jitter at the edge
cannot flap). An exit is raised when the resident has been OUTSIDE for the dwell time with
at least two fixes and no INSIDE fix since. Fixes implying an impossible speed are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerting.geo.fences import OUTSIDE, FenceSet, active_at, classify_points
from alerting.rules.common import HIGH, Finding, Fleet, band_starts, last_row_of_each_band
from alerting.rules.thresholds import Params
from eldercare.geodesy import distance_m


@dataclass
class Fixes:
    """Fixes of many bands as columns, sorted by (code, t_ms); WGS-84."""

    codes: np.ndarray
    t_ms: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    acc_m: np.ndarray

    def take(self, rows: np.ndarray) -> Fixes:
        return Fixes(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))


def plausible_fixes(fixes: Fixes, max_speed_mps: np.ndarray | float) -> np.ndarray:
    """Mask of fixes to keep: drop one whose arrival and departure both need impossible speed.

    The newest fix of a band, reached at impossible speed, is held back until the next fix
    says whether it was a jump or a real move.
    """
    n = len(fixes.codes)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    first = band_starts(fixes.codes)
    d = distance_m(fixes.lat[:-1], fixes.lon[:-1], fixes.lat[1:], fixes.lon[1:])
    dt = np.maximum(np.diff(fixes.t_ms), 1) / 1000.0
    # Accuracy circles may overlap: only the distance beyond them needs explaining.
    slack = fixes.acc_m[:-1] + fixes.acc_m[1:]
    fast = ((d - slack) / dt > np.broadcast_to(max_speed_mps, n)[1:]) & ~first[1:]
    arrive_fast = np.concatenate([[False], fast])
    leave_fast = np.concatenate([fast, [False]])
    is_last = np.concatenate([first[1:], [True]])
    keep &= ~(arrive_fast & (leave_fast | is_last))
    return keep


def fix_states(fleet: Fleet, fences: FenceSet, fixes: Fixes) -> tuple[np.ndarray, np.ndarray]:
    """Per fix: state (INSIDE/AMBIGUOUS/OUTSIDE) and whether any fence was active for it."""
    n = len(fixes.codes)
    state = np.full(n, OUTSIDE, dtype=np.int8)
    covered = np.zeros(n, dtype=bool)
    if n == 0 or len(fences) == 0:
        return state, covered
    # Pair every fix with every fence of its resident (fences sorted by resident).
    order = np.argsort(fences.resident_ids, kind="stable")
    res_sorted = fences.resident_ids[order]
    resident = fleet.resident_ids[fixes.codes]
    lo = np.searchsorted(res_sorted, resident, side="left")
    hi = np.searchsorted(res_sorted, resident, side="right")
    count = hi - lo
    fix_idx = np.repeat(np.arange(n), count)
    fence_idx = order[np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())]
    local_minute = ((fixes.t_ms + fleet.utc_offset_ms[fixes.codes]) // 60_000) % 1440
    active = active_at(fences, fence_idx, local_minute[fix_idx])
    fix_idx, fence_idx = fix_idx[active], fence_idx[active]
    pair_state = classify_points(
        fences, fence_idx, fixes.lat[fix_idx], fixes.lon[fix_idx], fixes.acc_m[fix_idx]
    )
    # Safe zone is the union: the fix's state is the smallest over its active fences.
    np.minimum.at(state, fix_idx, pair_state)
    covered[fix_idx] = True
    return state, covered


def evaluate_geofences(
    fleet: Fleet, params: Params, fences: FenceSet, fixes: Fixes, now_ms: int
) -> list[Finding]:
    """Geofence exits that have lasted the dwell time."""
    if len(fixes.codes) == 0 or len(fences) == 0:
        return []
    fixes = fixes.take(np.flatnonzero(fleet.resident_ids[fixes.codes] >= 0))
    fixes = fixes.take(
        np.flatnonzero(plausible_fixes(fixes, params.per_row("max_speed_mps", fixes.codes)))
    )
    state, covered = fix_states(fleet, fences, fixes)
    decisive = covered & (state != 1)  # AMBIGUOUS fixes are skipped
    f = fixes.take(np.flatnonzero(decisive))
    out = state[decisive] == OUTSIDE
    if len(f.codes) == 0:
        return []
    # Start of the trailing OUTSIDE run of each band (no data gap limit: silence is no return).
    n = len(out)
    starts = out.copy()
    starts[1:] &= ~(out[:-1] & (f.codes[1:] == f.codes[:-1]))
    run_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    last = last_row_of_each_band(f.codes)
    last = last[out[last]]
    dwell_ms = params.per_row("fence_dwell_s", f.codes[last]) * 1000
    start = run_start[last]
    ok = (last - start >= 1) & (now_ms - f.t_ms[start] >= dwell_ms)
    return [
        Finding(
            rule="geofence_exit",
            device_id=str(fleet.device_ids[f.codes[i]]),
            observed_at_ms=int(f.t_ms[i]),
            severity=HIGH,
            title="Left the safe zone",
            details={"outside_since_ms": int(f.t_ms[s]), "fixes_outside": int(i - s + 1)},
            lat=float(f.lat[i]),
            lon=float(f.lon[i]),
            acc_m=float(f.acc_m[i]),
        )
        for i, s in zip(last[ok], start[ok], strict=True)
    ]
