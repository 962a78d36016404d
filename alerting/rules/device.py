"""Device health (offline, low battery) and inactivity, over all bands at once."""

from __future__ import annotations

import numpy as np

from alerting.rules.common import (
    LOW,
    MEDIUM,
    Finding,
    Fleet,
    last_row_of_each_band,
    step_increments,
)
from alerting.rules.thresholds import Params


def evaluate_device_health(
    fleet: Fleet,
    params: Params,
    now_ms: int,
    interval_s: float,
    *,
    last_seen_ms: np.ndarray,  # per band code; -1 = never seen
    online: np.ndarray,  # per band code: 1 online, 0 Last Will / offline, -1 unknown
    battery: np.ndarray,  # per band code, NaN unknown
    charging: np.ndarray,  # per band code, bool
    open_offline: np.ndarray,  # per band code, bool: an offline alert is open
    open_battery: np.ndarray,
) -> list[Finding]:
    """Offline (silent for offline_factor intervals, or its Last Will) and low battery."""
    seen = last_seen_ms >= 0
    silent_ms = now_ms - last_seen_ms
    limit_ms = params.per_band("offline_factor") * interval_s * 1000
    offline = seen & ((silent_ms >= limit_ms) | (online == 0))
    low = ~np.isnan(battery) & (battery <= params.per_band("low_battery_pct")) & ~charging
    recovered = charging | (
        ~np.isnan(battery) & (battery >= params.per_band("battery_recovered_pct"))
    )
    ids = fleet.device_ids
    found = [
        Finding(
            rule="device_offline",
            device_id=str(ids[i]),
            observed_at_ms=int(last_seen_ms[i]),  # constant while silent: no spurious repeats
            severity=MEDIUM,
            title="Band offline",
            details={"last_seen_ms": int(last_seen_ms[i]), "last_will": bool(online[i] == 0)},
        )
        for i in np.flatnonzero(offline)
    ]
    found += [
        Finding(
            rule="device_offline",
            device_id=str(ids[i]),
            observed_at_ms=int(last_seen_ms[i]),
            clear=True,
        )
        for i in np.flatnonzero(open_offline & seen & ~offline)
    ]
    found += [
        Finding(
            rule="low_battery",
            device_id=str(ids[i]),
            observed_at_ms=int(last_seen_ms[i]),
            severity=LOW,
            title="Low battery",
            details={"battery_pct": float(battery[i])},
        )
        for i in np.flatnonzero(low)
    ]
    found += [
        Finding(rule="low_battery", device_id=str(ids[i]), observed_at_ms=int(now_ms), clear=True)
        for i in np.flatnonzero(open_battery & recovered)
    ]
    return found


def evaluate_inactivity(
    fleet: Fleet,
    params: Params,
    now_ms: int,
    *,
    codes: np.ndarray,
    t_ms: np.ndarray,
    steps: np.ndarray,
) -> list[Finding]:
    """Residents living alone whose step counter has not moved today by the deadline.

    Rows are (code, t) sorted step readings since at least the earliest window start.
    """
    local_now = now_ms + fleet.utc_offset_ms
    local_midnight = local_now - local_now % 86_400_000
    hour_now = (local_now % 86_400_000) / 3_600_000
    window_start_ms = (
        local_midnight + params.per_band("inactivity_window_start_h") * 3_600_000
    ) - fleet.utc_offset_ms
    due = (
        fleet.living_alone
        & (fleet.resident_ids >= 0)
        & (hour_now >= params.per_band("inactivity_deadline_h"))
        & (hour_now < params.per_band("inactivity_window_end_h"))
    )
    if not due.any():
        return []
    in_window = t_ms >= window_start_ms[codes]
    c, t, s = codes[in_window], t_ms[in_window], steps[in_window]
    moved = step_increments(s, c, t, params.per_row("max_steps_per_s", c))
    total = np.bincount(c, weights=moved, minlength=len(fleet.device_ids))
    has_data = np.bincount(c, minlength=len(fleet.device_ids)) > 0
    still = due & (total <= 0)
    return [
        Finding(
            rule="inactivity",
            device_id=str(fleet.device_ids[i]),
            observed_at_ms=int(window_start_ms[i]),  # one occurrence per day
            severity=MEDIUM,
            title="No steps this morning (lives alone)",
            details={"since_ms": int(window_start_ms[i]), "band_reported": bool(has_data[i])},
        )
        for i in np.flatnonzero(still)
    ]


__all__ = ["evaluate_device_health", "evaluate_inactivity", "last_row_of_each_band"]
