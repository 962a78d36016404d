"""Each band's recent rows in memory: one matrix row per band, its cells sorted by time.

The incremental engine keeps the look-back window of every band it tracks here and adds only
rows it has not seen; the rules then run over a gather of these matrices exactly as they would
over the same rows read from PostgreSQL. Cells past a band's `count` hold PAD_MS.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

PAD_MS = np.iinfo(np.int64).max


class BandWindows:
    """Rows of many bands (codes 0..n-1) as matrices of shape (n, capacity), sorted by time."""

    def __init__(self, n_bands: int, columns: Mapping[str, type], capacity: int = 64):
        self.dtypes = columns
        self.t_ms = np.full((n_bands, capacity), PAD_MS, dtype=np.int64)
        self.received_ms = np.full((n_bands, capacity), PAD_MS, dtype=np.int64)
        self.values: dict[str, np.ndarray] = {
            k: np.full((n_bands, capacity), np.nan, dtype=d) for k, d in columns.items()
        }
        self.count = np.zeros(n_bands, dtype=np.int64)

    @property
    def capacity(self) -> int:
        return self.t_ms.shape[1]

    def __len__(self) -> int:
        return len(self.count)

    def add(self, codes: np.ndarray, t_ms: np.ndarray, received_ms: np.ndarray, values) -> None:
        """Add rows (any order, repeats of stored (band, t) rows are dropped)."""
        keep = codes >= 0
        if not keep.any():
            return
        order = np.lexsort((t_ms[keep], codes[keep]))
        c, t = codes[keep][order], t_ms[keep][order]
        firsts = np.ones(len(c), dtype=bool)
        firsts[1:] = c[1:] != c[:-1]
        first_row = np.maximum.accumulate(np.where(firsts, np.arange(len(c)), 0))
        slot = self.count[c] + np.arange(len(c)) - first_row
        self._grow(int(slot.max()) + 1)
        bands = c[firsts]
        in_order = t[firsts] > self._last_t(bands)  # the usual case: nothing to re-sort
        self.t_ms[c, slot] = t
        self.received_ms[c, slot] = received_ms[keep][order]
        for name, column in values.items():
            self.values[name][c, slot] = np.asarray(column)[keep][order]
        self.count[bands] = slot[np.append(np.flatnonzero(firsts)[1:] - 1, len(c) - 1)] + 1
        dupes_in_batch = ~firsts[1:] & (t[1:] == t[:-1])
        unsorted = bands[~in_order]
        if dupes_in_batch.any():
            unsorted = np.union1d(unsorted, c[1:][dupes_in_batch])
        if len(unsorted):
            self._sort_and_dedupe(unsorted)

    def drop_before(self, cutoff_ms: int) -> None:
        """Forget rows older than cutoff_ms (memory only: gathers filter by time anyway)."""
        old = (self.t_ms[:, 0] < cutoff_ms) & (self.count > 0)
        bands = np.flatnonzero(old)
        if len(bands) == 0:
            return
        drop = (self.t_ms[bands] < cutoff_ms).sum(axis=1)
        shift = np.arange(self.capacity)[None, :] + drop[:, None]
        self._reorder(bands, shift, self.count[bands] - drop)

    def clear(self, bands: np.ndarray) -> None:
        """Forget every row of the given bands."""
        self.t_ms[bands] = PAD_MS
        self.received_ms[bands] = PAD_MS
        for column in self.values.values():
            column[bands] = np.nan
        self.count[bands] = 0

    def remapped(self, new_code_of_old: np.ndarray, n_new: int) -> BandWindows:
        """The same rows under new band codes (-1: the band is gone)."""
        out = BandWindows(n_new, self.dtypes, self.capacity)
        old = np.flatnonzero(new_code_of_old >= 0)
        new = new_code_of_old[old]
        out.t_ms[new] = self.t_ms[old]
        out.received_ms[new] = self.received_ms[old]
        for name, column in self.values.items():
            out.values[name][new] = column[old]
        out.count[new] = self.count[old]
        return out

    def gather(self, bands: np.ndarray, since_ms: np.ndarray, now_ms: int):
        """Rows of `bands` (ascending codes) with t >= since_ms (per band) received by now_ms.

        Returns (codes, t_ms, received_ms, {column: values}), sorted by (code, t).
        """
        t = self.t_ms[bands]
        mask = (t >= since_ms[:, None]) & (t != PAD_MS) & (self.received_ms[bands] <= now_ms)
        flat = mask.ravel()
        codes = np.repeat(bands, self.capacity)[flat]
        values = {k: v[bands].ravel()[flat].astype(float) for k, v in self.values.items()}
        return codes, t.ravel()[flat], self.received_ms[bands].ravel()[flat], values

    # --- internals ------------------------------------------------------------------------

    def _last_t(self, bands: np.ndarray) -> np.ndarray:
        last = np.maximum(self.count[bands] - 1, 0)
        return np.where(self.count[bands] > 0, self.t_ms[bands, last], np.iinfo(np.int64).min)

    def _grow(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        extra = max(needed, 2 * self.capacity) - self.capacity
        self.t_ms = np.pad(self.t_ms, ((0, 0), (0, extra)), constant_values=PAD_MS)
        self.received_ms = np.pad(self.received_ms, ((0, 0), (0, extra)), constant_values=PAD_MS)
        for name, column in self.values.items():
            self.values[name] = np.pad(column, ((0, 0), (0, extra)), constant_values=np.nan)

    def _sort_and_dedupe(self, bands: np.ndarray) -> None:
        t = self.t_ms[bands]
        order = np.argsort(t, axis=1, kind="stable")
        t = np.take_along_axis(t, order, axis=1)
        repeat = np.zeros(t.shape, dtype=bool)
        repeat[:, 1:] = (t[:, 1:] == t[:, :-1]) & (t[:, 1:] != PAD_MS)
        # A repeated (band, t) is the same stored row read twice: keep the first, push the
        # others past the end.
        order = np.take_along_axis(order, np.argsort(repeat, axis=1, kind="stable"), axis=1)
        self._reorder(bands, order, (~repeat & (t != PAD_MS)).sum(axis=1))

    def _reorder(self, bands: np.ndarray, cells: np.ndarray, count: np.ndarray) -> None:
        """Rewrite the bands' cells as cells[i] of themselves; cells past count become padding."""
        cells = np.minimum(cells, self.capacity - 1)
        past = np.arange(self.capacity)[None, :] >= count[:, None]
        t = np.take_along_axis(self.t_ms[bands], cells, axis=1)
        self.t_ms[bands] = np.where(past, PAD_MS, t)
        received = np.take_along_axis(self.received_ms[bands], cells, axis=1)
        self.received_ms[bands] = np.where(past, PAD_MS, received)
        for column in self.values.values():
            column[bands] = np.where(past, np.nan, np.take_along_axis(column[bands], cells, axis=1))
        self.count[bands] = count
