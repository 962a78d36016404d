"""New rows of a hypertable past a `received_at` watermark, read once each.

`received_at` is stamped when ingest receives a message, before its batch commits, so a row
can become visible after rows received later than it. Each read therefore first counts the
rows of the last `recheck_s` before the watermark; when PostgreSQL holds more than were read,
that stretch is read again (the store drops the repeats). Otherwise only rows past the
watermark are read: rows read equal rows arriving.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_floor(dt: datetime) -> int:
    """Whole milliseconds since the epoch, rounded down."""
    return (dt - EPOCH) // timedelta(milliseconds=1)


def ms_ceil(dt: datetime) -> int:
    """Whole milliseconds since the epoch, rounded up."""
    return -((EPOCH - dt) // timedelta(milliseconds=1))


class RowFeed:
    """Reads one table's new rows; remembers recent reads to recheck late commits."""

    def __init__(self, table: str, columns: str):
        self.table = table  # a constant of this package, never user input
        self.columns = columns
        self.mark: datetime | None = None
        self.rows_read = 0  # rows fetched from PostgreSQL, for the benchmark and metrics
        self._log_received = np.zeros(0, dtype=np.int64)  # recent reads: received_ms, t_ms
        self._log_t = np.zeros(0, dtype=np.int64)

    def start(self, mark: datetime) -> None:
        """Read only rows received after `mark` (older rows are the backfill's)."""
        self.mark = mark

    def read(
        self, conn, *, now: datetime, since: datetime, recheck_s: float, keep_log_s: float
    ) -> list[tuple]:
        """Rows with t >= since received in (mark, now], plus a recheck before the mark.

        Rows: (device_id, t_ms, received_ms, *columns). Advances the mark to `now`.
        """
        if self.mark is None:
            self.mark = now
        start = self.mark
        if recheck_s > 0 and self._missed(conn, start - timedelta(seconds=recheck_s), since):
            start -= timedelta(seconds=recheck_s)
        rows = self._fetch(conn, start, now, since) if now > start else []
        self.rows_read += len(rows)
        received = np.array([r[2] for r in rows], dtype=np.int64)
        t_ms = np.array([r[1] for r in rows], dtype=np.int64)
        self._remember(ms_floor(start), received, t_ms, ms_floor(now) - int(keep_log_s * 1000))
        self.mark = max(now, self.mark)
        return rows

    def _missed(self, conn, lo: datetime, since: datetime) -> bool:
        (stored,) = conn.execute(
            f"SELECT count(*) FROM {self.table}"
            " WHERE received_at > %s AND received_at <= %s AND t >= %s",
            (lo, self.mark, since),
        ).fetchone()
        lo_ms, mark_ms = ms_floor(lo), ms_floor(self.mark)  # type: ignore[arg-type]
        seen = (self._log_received > lo_ms) & (self._log_received <= mark_ms)
        return stored > int((seen & (self._log_t >= ms_ceil(since))).sum())

    def _fetch(self, conn, start: datetime, now: datetime, since: datetime) -> list[tuple]:
        return conn.execute(
            f"""SELECT device_id, (extract(epoch FROM t) * 1000)::bigint,
                       (extract(epoch FROM received_at) * 1000)::bigint, {self.columns}
                FROM {self.table}
                WHERE received_at > %s AND received_at <= %s AND t >= %s""",
            (start, now, since),
        ).fetchall()

    def _remember(self, start_ms: int, received: np.ndarray, t_ms: np.ndarray, keep_ms: int):
        # Whatever was logged past `start` has just been read again: replace it.
        old = (self._log_received <= start_ms) & (self._log_received > keep_ms)
        self._log_received = np.concatenate([self._log_received[old], received])
        self._log_t = np.concatenate([self._log_t[old], t_ms])
