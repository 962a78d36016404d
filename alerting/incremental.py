"""The incremental engine: each band's look-back window kept in memory, fed with new rows only.

`Engine.evaluate_bands` (the reference) reads every evaluated band's whole window from
PostgreSQL each time. Here the windows live in `BandWindows`; new rows come from `RowFeed`
(read past a watermark when the stored stream says there are some, and by the sweep for lost
entries); a band's history is read only when the engine takes it over or lost track of it
(`backfill`), which after a restart happens in the background while new rows are evaluated.
The rules then run over the same rows the reference would read: the findings are identical
(tests/alerting/test_incremental_equivalence.py).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import numpy as np

from alerting.engine import Engine
from alerting.row_feed import RowFeed, ms_ceil, ms_floor
from alerting.rules.common import Finding
from alerting.rules.geofence import Fixes
from alerting.rules.vitals import Telemetry
from alerting.windows import BandWindows
from eldercare.settings import Settings

# Readings are whole numbers (smallint, integer, boolean): float32 holds them exactly.
TELEMETRY = {
    "hr": np.float32,
    "sbp": np.float32,
    "dbp": np.float32,
    "steps": np.float64,
    "worn": np.float32,
}
TELEMETRY_SQL = "hr, sbp, dbp, steps, CASE WHEN worn IS NULL THEN NULL WHEN worn THEN 1 ELSE 0 END"
FIXES = {"lat": np.float64, "lon": np.float64, "acc_m": np.float64}
FIXES_SQL = "lat, lon, acc_m"
# How far before the watermark each read rechecks for rows committed late: the hot path's
# short look covers ingest's batching; the sweep's long one covers a stalled ingest.
RECHECK_HOT_S = 10.0
RECHECK_SWEEP_S = 300.0
SWEEP_CHUNK_BANDS = 20_000  # bounds the memory of one evaluation


class IncrementalEngine:
    """One shard's bands, their windows in memory and the rules over them.

    Not thread-safe by itself: callers hold `lock` (the band worker, sweep and rebuild share it).
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine = Engine(settings)
        self.lock = threading.RLock()
        self.telemetry = BandWindows(0, TELEMETRY)
        self.fixes = BandWindows(0, FIXES, capacity=8)  # grows with the first band that needs it
        self.tracked = np.zeros(0, dtype=bool)  # the band's window holds its whole look-back
        self.feeds = {
            "telemetry": RowFeed("telemetry_samples", TELEMETRY_SQL),
            "fixes": RowFeed("location_fixes", FIXES_SQL),
        }

    @property
    def rows_read(self) -> int:
        """Telemetry and fix rows fetched from PostgreSQL so far."""
        return sum(feed.rows_read for feed in self.feeds.values())

    def lookback(self) -> timedelta:
        return timedelta(seconds=self.settings.alerting_lookback_s)

    # --- fleet --------------------------------------------------------------------------

    def refresh(self, conn, *, now: datetime) -> None:
        """Reload the fleet and its context; windows follow their bands to their new codes."""
        old_ids = self.engine.fleet.device_ids
        self.engine.refresh(conn, now=now)
        new_ids = self.engine.fleet.device_ids
        if len(old_ids) == len(new_ids) and (old_ids == new_ids).all():
            return
        new_code_of_old = self.engine.fleet.codes_of(old_ids)
        self.telemetry = self.telemetry.remapped(new_code_of_old, len(new_ids))
        self.fixes = self.fixes.remapped(new_code_of_old, len(new_ids))
        tracked = np.zeros(len(new_ids), dtype=bool)
        tracked[new_code_of_old[new_code_of_old >= 0]] = self.tracked[new_code_of_old >= 0]
        self.tracked = tracked

    def untracked_ids(self, device_ids: list[str] | None = None) -> list[str]:
        """Bands (of the given ones, or all) whose history has not been read yet."""
        fleet_ids = self.engine.fleet.device_ids
        if device_ids is None:
            return [str(d) for d in fleet_ids[~self.tracked]]
        codes = self.engine.fleet.codes_of(device_ids)
        return [str(fleet_ids[c]) for c in codes[codes >= 0] if not self.tracked[c]]

    # --- reading ------------------------------------------------------------------------

    def catch_up(self, conn, *, now: datetime, recheck_s: float = RECHECK_HOT_S) -> np.ndarray:
        """Add rows received since the last read; return the codes of bands that got any."""
        since = now - self.lookback()
        touched = []
        keep_s = RECHECK_SWEEP_S + 60
        for name, windows in (("telemetry", self.telemetry), ("fixes", self.fixes)):
            rows = self.feeds[name].read(
                conn, now=now, since=since, recheck_s=recheck_s, keep_log_s=keep_s
            )
            touched.append(self._add(windows, rows))
        return np.union1d(*touched)

    def backfill(self, conn, device_ids: list[str], *, now: datetime) -> None:
        """Read the whole look-back of bands taken over or lost track of; they are tracked."""
        if not device_ids:
            return
        since = now - self.lookback()
        for name, windows in (("telemetry", self.telemetry), ("fixes", self.fixes)):
            feed = self.feeds[name]
            if feed.mark is None:
                feed.start(now)  # rows received later come through the feed
            rows = conn.execute(
                f"""SELECT device_id, (extract(epoch FROM t) * 1000)::bigint,
                           (extract(epoch FROM received_at) * 1000)::bigint, {feed.columns}
                    FROM {feed.table} WHERE device_id = ANY(%s) AND t >= %s""",
                (device_ids, since),
            ).fetchall()
            feed.rows_read += len(rows)
            codes = self.engine.fleet.codes_of(device_ids)
            windows.clear(codes[codes >= 0])
            self._add(windows, rows)
        codes = self.engine.fleet.codes_of(device_ids)
        self.tracked[codes[codes >= 0]] = True

    def forget_old(self, *, now: datetime) -> None:
        """Drop rows that have left every band's look-back (memory only)."""
        cutoff = ms_floor(now - self.lookback()) - 60_000
        self.telemetry.drop_before(cutoff)
        self.fixes.drop_before(cutoff)

    def _add(self, windows: BandWindows, rows: list[tuple]) -> np.ndarray:
        if not rows:
            return np.zeros(0, dtype=np.int64)
        codes = self.engine.fleet.codes_of([r[0] for r in rows])
        names = list(windows.values)
        values = {
            name: np.array([np.nan if r[3 + i] is None else r[3 + i] for r in rows], dtype=float)
            for i, name in enumerate(names)
        }
        t_ms = np.array([r[1] for r in rows], dtype=np.int64)
        received = np.array([r[2] for r in rows], dtype=np.int64)
        windows.add(codes, t_ms, received, values)
        return np.unique(codes[codes >= 0])

    # --- evaluation ---------------------------------------------------------------------

    def gather(self, codes: np.ndarray, *, now: datetime) -> tuple[Telemetry, Fixes]:
        """The rows the reference would read for these bands (ascending codes) at `now`."""
        since_ms = np.maximum(ms_ceil(now - self.lookback()), self.engine.bound_ms[codes])
        now_ms = ms_floor(now)
        c, t, _, v = self.telemetry.gather(codes, since_ms, now_ms)
        tel = Telemetry(c, t, v["hr"], v["sbp"], v["dbp"], v["steps"], v["worn"])
        c, t, _, v = self.fixes.gather(codes, since_ms, now_ms)
        return tel, Fixes(c, t, v["lat"], v["lon"], v["acc_m"])

    def evaluate(self, conn, *, now: datetime, codes: np.ndarray) -> list[Finding]:
        """Vitals, wear and geofence findings of the given bands, from memory."""
        found: list[Finding] = []
        for start in range(0, len(codes), SWEEP_CHUNK_BANDS):
            chunk = np.sort(codes[start : start + SWEEP_CHUNK_BANDS])
            tel, fixes = self.gather(chunk, now=now)
            found += self.engine.evaluate_rows(conn, tel, fixes, now=now)
        return found
