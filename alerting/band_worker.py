"""Vitals, wear and geofence evaluation of one engine process: hot path, sweep and rebuild.

With `alerting_incremental` (the default) one `IncrementalEngine` serves all three under its
lock: the hot path reads the rows received since its last read and evaluates the bands that
got any (or were named by the stored stream); the sweep rechecks the last minutes for rows
committed late or stream entries lost, and evaluates every tracked band (conditions completed
by time: not worn, geofence dwell; changed thresholds, baselines, open alerts); the rebuild
reads the history of bands not tracked yet (all of them after a start, a few after a fleet
change) in chunks, bands with new data first, so a start never holds up the hot path.
Without it, every evaluation reads each band's whole look-back (the reference engine).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from alerting.engine import Engine, apply_findings
from alerting.incremental import RECHECK_SWEEP_S, SWEEP_CHUNK_BANDS, IncrementalEngine
from alerting.metrics import AlertingMetrics
from alerting.rules.common import Finding
from eldercare.redis_client import connect_redis
from eldercare.settings import Settings

REBUILD_CHUNK_BANDS = 2000
CONTEXT_REFRESH_S = 60.0


class BandEvaluation:
    """The band evaluation shared by the band worker, sweep and rebuild loops."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.incremental = IncrementalEngine(settings) if settings.alerting_incremental else None
        # Only without alerting_incremental; one each, as their loops run in two threads.
        self.reference, self.reference_sweep = Engine(settings), Engine(settings)
        self._refreshed_at = -np.inf
        self._wanted: list[str] = []  # untracked bands with new data: rebuilt first
        self.rebuild_wanted = threading.Event()

    @property
    def rows_read(self) -> int:
        """Telemetry and fix rows fetched from PostgreSQL by this process's engine."""
        inc = self.incremental
        if inc is not None:
            return inc.rows_read
        return self.reference.rows_read + self.reference_sweep.rows_read

    def report(self, metrics: AlertingMetrics) -> None:
        """Rows read and bands tracked, for /metrics."""
        metrics.rows_read.set(self.rows_read)
        inc = self.incremental
        tracked = (
            int(inc.tracked.sum()) if inc is not None else len(self.reference.fleet.device_ids)
        )
        metrics.bands_tracked.set(tracked)

    def hot(self, conn, *, now: datetime, device_ids: list[str]) -> list[Finding]:
        """Findings of bands with fresh data (named by the stored stream, or found by a read)."""
        inc = self.incremental
        if inc is None:
            self._refresh_reference(conn, now)
            return self.reference.evaluate_bands(conn, now=now, device_ids=device_ids)
        with inc.lock:
            if time.monotonic() - self._refreshed_at > CONTEXT_REFRESH_S:
                self._refresh(conn, now)
            touched = inc.catch_up(conn, now=now)
            named = inc.engine.fleet.codes_of(device_ids) if device_ids else touched[:0]
            codes = np.union1d(touched, named[named >= 0]).astype(np.int64)
            self._want(codes[~inc.tracked[codes]])
            return inc.evaluate(conn, now=now, codes=codes[inc.tracked[codes]])

    def sweep(self, conn, *, now: datetime) -> list[Finding]:
        """Every band of the shard (tracked ones; the rest are the rebuild's)."""
        inc = self.incremental
        if inc is None:
            self.reference_sweep.refresh(conn, now=now)
            return self.reference_sweep.evaluate_bands(conn, now=now)
        with inc.lock:
            self._refresh(conn, now)
            inc.catch_up(conn, now=now, recheck_s=RECHECK_SWEEP_S)
            inc.forget_old(now=now)
            fleet, codes = inc.engine.fleet, np.flatnonzero(inc.tracked)
        found: list[Finding] = []
        # The lock is let go between chunks: the hot path waits for one chunk, not the fleet.
        for start in range(0, len(codes), SWEEP_CHUNK_BANDS):
            with inc.lock:
                if inc.engine.fleet is not fleet:  # codes changed meaning: the next sweep
                    break
                chunk = codes[start : start + SWEEP_CHUNK_BANDS]
                found += inc.evaluate(conn, now=now, codes=chunk)
        return found

    def rebuild_step(self, conn, *, now: datetime) -> tuple[list[Finding], bool]:
        """Read the history of one chunk of untracked bands; return their findings and whether
        bands are left."""
        inc = self.incremental
        if inc is None:
            return [], False
        with inc.lock:
            if time.monotonic() - self._refreshed_at > CONTEXT_REFRESH_S:
                self._refresh(conn, now)
            wanted, self._wanted = list(dict.fromkeys(inc.untracked_ids(self._wanted))), []
            first = set(wanted)
            left = [d for d in inc.untracked_ids() if d not in first]
            chunk = (wanted + left)[:REBUILD_CHUNK_BANDS]
            if not chunk:
                return [], False
            # History is read under the lock: a band's rows must not arrive between its read
            # and its adoption. A chunk is small enough to keep the hot path's wait short.
            inc.backfill(conn, chunk, now=now)
            codes = inc.engine.fleet.codes_of(chunk)
            found = inc.evaluate(conn, now=now, codes=codes[codes >= 0])
            return found, len(wanted) + len(left) > len(chunk)

    def _want(self, codes: np.ndarray) -> None:
        if len(codes):
            inc = self.incremental
            assert inc is not None
            self._wanted += [str(d) for d in inc.engine.fleet.device_ids[codes]]
            self.rebuild_wanted.set()

    def _refresh(self, conn, now: datetime) -> None:
        inc = self.incremental
        assert inc is not None
        inc.refresh(conn, now=now)
        self._refreshed_at = time.monotonic()
        if not inc.tracked.all():
            self.rebuild_wanted.set()

    def _refresh_reference(self, conn, now: datetime) -> None:
        if time.monotonic() - self._refreshed_at > CONTEXT_REFRESH_S:
            self.reference.refresh(conn, now=now)
            self._refreshed_at = time.monotonic()


class BandWorker:
    """The `bands` and `rebuild` loops of an alerting process, fed by the stream loop."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        stopping: threading.Event,
        connect: Callable[[], Any],
        wake_dispatcher: Callable[[Any], None],
    ):
        self.settings, self.clock, self.stopping = settings, clock, stopping
        self.connect, self.wake_dispatcher = connect, wake_dispatcher
        self.evaluation = BandEvaluation(settings)
        # Bands with fresh data, handed from the stream loop to the band worker. A crash loses
        # at most this set; the sweep re-evaluates every band within alerting_sweep_s.
        self._dirty: set[str] = set()
        self._dirty_lock = threading.Lock()
        self._dirty_event = threading.Event()

    def mark_dirty(self, device_ids) -> None:
        """Bands named by stored-stream entries: evaluate them soon."""
        with self._dirty_lock:
            self._dirty.update(device_ids)
        self._dirty_event.set()

    def hot_loop(self) -> None:
        """Evaluate bands with fresh data, coalescing bursts; never in the way of an SOS."""
        r = connect_redis(self.settings)
        with self.connect() as conn:
            while not self.stopping.is_set():
                if not self._dirty_event.wait(0.5):
                    continue
                with self._dirty_lock:
                    bands, self._dirty = sorted(self._dirty), set()
                    self._dirty_event.clear()
                now = self.clock()
                found = self.evaluation.hot(conn, now=now, device_ids=bands)
                if apply_findings(conn, found, now=now):
                    self.wake_dispatcher(r)

    def rebuild_loop(self) -> None:
        """Read the history of bands not tracked yet (after a start, a fleet change)."""
        r = connect_redis(self.settings)
        with self.connect() as conn:
            while not self.stopping.is_set():
                if not self.evaluation.rebuild_wanted.wait(0.5):
                    continue
                self.evaluation.rebuild_wanted.clear()
                more = True
                while more and not self.stopping.is_set():
                    now = self.clock()
                    found, more = self.evaluation.rebuild_step(conn, now=now)
                    if apply_findings(conn, found, now=now):
                        self.wake_dispatcher(r)
