"""What rules produce (findings) and the array helpers they share.

Arrays are sorted by (band code, time). A *run* is a stretch of consecutive rows of one band
where a condition holds without a data gap; sustained conditions are runs long enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LOW, MEDIUM, HIGH, CRITICAL = 1, 2, 3, 4
SEVERITY_NAMES = {LOW: "low", MEDIUM: "medium", HIGH: "high", CRITICAL: "critical"}


@dataclass
class Finding:
    """A rule's verdict about one band: the condition holds (or, with clear=True, has cleared)."""

    rule: str
    device_id: str
    observed_at_ms: int
    severity: int = MEDIUM
    title: str = ""
    details: dict = field(default_factory=dict)
    lat: float | None = None
    lon: float | None = None
    acc_m: float | None = None
    clear: bool = False
    source_event_id: str | None = None  # dedup key for event-driven findings

    def key(self) -> tuple:
        return (self.rule, self.device_id, self.observed_at_ms, self.clear)


@dataclass
class Fleet:
    """The bands an engine looks after, indexed by code (position in device_ids)."""

    device_ids: np.ndarray  # str
    resident_ids: np.ndarray  # int64, -1 = unbound
    living_alone: np.ndarray
    disabled: np.ndarray
    low_income: np.ndarray
    utc_offset_ms: np.ndarray  # the resident's current UTC offset
    # Sorting a city's device ids takes ~0.1 s: once per fleet, not once per lookup.
    _sorted: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def codes_of(self, device_ids) -> np.ndarray:
        """Codes of the given device ids (-1 for bands not in this fleet)."""
        if self._sorted is None:
            order = np.argsort(self.device_ids)
            self._sorted = (order, self.device_ids[order])
        order, sorted_ids = self._sorted
        ids = np.asarray(device_ids, dtype=sorted_ids.dtype if len(sorted_ids) else object)
        if len(sorted_ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
        found = sorted_ids[pos] == ids
        return np.where(found, order[pos], -1).astype(np.int64)


def sort_by_band_time(codes: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """Permutation sorting rows by (band, time)."""
    return np.lexsort((t_ms, codes))


def band_starts(codes: np.ndarray) -> np.ndarray:
    """True on the first row of each band (rows sorted by band)."""
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    return first


def run_start_index(
    flag: np.ndarray, codes: np.ndarray, t_ms: np.ndarray, max_gap_ms: np.ndarray | float
) -> np.ndarray:
    """For each flagged row, the index of the first row of its run (0 for unflagged rows).

    A run continues from one row to the next when both are flagged, adjacent, of the same
    band, and no more than max_gap_ms apart. Work is proportional to the flagged rows.
    """
    n = len(flag)
    out = np.zeros(n, dtype=np.int64)
    idx = np.flatnonzero(flag)
    if len(idx) == 0:
        return out
    a, b = idx[:-1], idx[1:]
    gap = np.broadcast_to(max_gap_ms, n)
    continues = (b == a + 1) & (codes[b] == codes[a]) & (t_ms[b] - t_ms[a] <= gap[b])
    starts = np.ones(len(idx), dtype=bool)
    starts[1:] = ~continues
    out[idx] = np.maximum.accumulate(np.where(starts, idx, 0))
    return out


def sustained(
    flag: np.ndarray,
    codes: np.ndarray,
    t_ms: np.ndarray,
    max_gap_ms: np.ndarray | float,
    *,
    min_ms: np.ndarray | float = 0,
    min_rows: np.ndarray | float = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows where `flag` has held for at least min_ms and min_rows rows; and run starts."""
    start = run_start_index(flag, codes, t_ms, max_gap_ms)
    hit = np.zeros(len(flag), dtype=bool)
    rows = np.flatnonzero(flag)
    s = start[rows]
    n = len(flag)
    hit[rows] = (t_ms[rows] - t_ms[s] >= np.broadcast_to(min_ms, n)[rows]) & (
        rows - s + 1 >= np.broadcast_to(min_rows, n)[rows]
    )
    return hit, start


def last_row_per_band(mask: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Indices of the last row with mask set, one per band that has any."""
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return rows
    band = codes[rows]
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = band[1:] != band[:-1]
    return rows[last]


def last_row_of_each_band(codes: np.ndarray) -> np.ndarray:
    """Index of the final row of every band present."""
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    last = np.ones(len(codes), dtype=bool)
    last[:-1] = codes[1:] != codes[:-1]
    return np.flatnonzero(last)


def step_increments(
    steps: np.ndarray, codes: np.ndarray, t_ms: np.ndarray, max_steps_per_s: np.ndarray | float
) -> np.ndarray:
    """Steps taken between consecutive rows of a band, never negative, never a jump.

    The counter resets at local midnight and on reboot: a decrease means a reset, and the new
    reading is the count since the reset. Rows without a reading carry no steps. Increases
    faster than a person walks are clamped (a glitch or a counter restored from flash).
    """
    n = len(steps)
    out = np.zeros(n)
    if n < 2:
        return out
    have = ~np.isnan(steps)
    idx = np.flatnonzero(have)
    if len(idx) < 2:
        return out
    s, c, t = steps[idx], codes[idx], t_ms[idx]
    delta = np.diff(s)
    delta = np.where(delta < 0, s[1:], delta)  # reset: count since the reset
    same_band = c[1:] == c[:-1]
    limit = np.broadcast_to(max_steps_per_s, n)[idx[1:]] * np.maximum(np.diff(t), 0) / 1000.0
    delta = np.minimum(delta, limit + 30.0)  # slack for a burst between two samples
    out[idx[1:]] = np.where(same_band, delta, 0.0)
    return out


def no_movement_within(
    moved: np.ndarray, codes: np.ndarray, t_ms: np.ndarray, window_ms: np.ndarray | float
) -> np.ndarray:
    """For each row, True if its band moved no step over (t - window, t] (moved is >= 0)."""
    n = len(moved)
    if n == 0:
        return np.zeros(0, dtype=bool)
    # Key that sorts like (band, time) with bands further apart than any window, so a running
    # maximum of "time of the last movement" never leaks from one band into the next.
    t0 = int(t_ms.min())
    stride = int(t_ms.max()) - t0 + int(np.max(window_ms)) + 1
    band_base = codes.astype(np.int64) * stride
    key = band_base + (t_ms - t0)
    last_move = np.maximum.accumulate(np.where(moved > 0, key, -1))
    return (last_move < band_base) | (key - last_move >= window_ms)
