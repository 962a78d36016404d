"""Per-minute and per-hour roll-ups of the vitals, kept incrementally (no continuous aggregates
in the Apache build of TimescaleDB).

Terms: a *bucket* is one band's minute or hour; a *partial* is a row of sums, counts, minima
and maxima over some worn samples of one bucket (a roll-up row, or one raw sample), and
partials of one bucket merge exactly. The *watermark* is a `stored_at` time: the roll-ups
hold exactly the worn samples stored at or before it. A run re-aggregates only the minutes
that samples stored since the watermark fall in (late and out-of-order samples included),
then the hours of those minutes, and moves the watermark, all in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import psycopg

from eldercare.db import returned_row

log = logging.getLogger(__name__)

ROLLUP_LOCK = 0x726F6C6C7570  # pg advisory lock: one roll-up run (or retention) at a time

Width = Literal["minute", "hour"]
_TABLE = {"minute": "telemetry_minute", "hour": "telemetry_hour"}

_COLUMN_NAMES = (
    "n",
    "hr_n",
    "hr_sum",
    "hr_sumsq",
    "hr_min",
    "hr_max",
    "sbp_n",
    "sbp_sum",
    "sbp_min",
    "sbp_max",
    "dbp_n",
    "dbp_sum",
    "dbp_min",
    "dbp_max",
    "steps_min",
    "steps_max",
    "temp_n",
    "temp_sum",
    "temp_min",
    "temp_max",
)
_COLUMNS = ", ".join(_COLUMN_NAMES)
_UPSERT_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMN_NAMES)

# Worn raw samples `s` aggregated into one partial.
_AGGREGATED = """count(*), count(s.hr), sum(s.hr), sum(s.hr::int8 * s.hr), min(s.hr), max(s.hr),
    count(s.sbp), sum(s.sbp), min(s.sbp), max(s.sbp), count(s.dbp), sum(s.dbp), min(s.dbp),
    max(s.dbp), min(s.steps), max(s.steps), count(s.temp_c), sum(s.temp_c::float8),
    min(s.temp_c), max(s.temp_c)"""

# One raw sample `s` as a partial.
_SAMPLE_PARTIAL = """1, (s.hr IS NOT NULL)::int, s.hr::int8, s.hr::int8 * s.hr, s.hr, s.hr,
    (s.sbp IS NOT NULL)::int, s.sbp::int8, s.sbp, s.sbp,
    (s.dbp IS NOT NULL)::int, s.dbp::int8, s.dbp, s.dbp, s.steps, s.steps,
    (s.temp_c IS NOT NULL)::int, s.temp_c::float8, s.temp_c, s.temp_c"""

# Partials merged, over a GROUP BY: sums of sums and counts, minima of minima, ...
_MERGED = """sum(n)::int, sum(hr_n)::int, sum(hr_sum)::int8, sum(hr_sumsq)::int8, min(hr_min),
    max(hr_max), sum(sbp_n)::int, sum(sbp_sum)::int8, min(sbp_min), max(sbp_max),
    sum(dbp_n)::int, sum(dbp_sum)::int8, min(dbp_min), max(dbp_max), min(steps_min),
    max(steps_max), sum(temp_n)::int, sum(temp_sum), min(temp_min), max(temp_max)"""

_TOUCHED_MINUTES = """
CREATE TEMP TABLE rollup_touched ON COMMIT DROP AS
SELECT DISTINCT device_id, time_bucket('1 minute', t) AS t
FROM telemetry_samples WHERE stored_at > %(since)s AND stored_at <= %(until)s"""

_ROLL_MINUTES = f"""
INSERT INTO telemetry_minute (device_id, t, {_COLUMNS})
SELECT s.device_id, m.t, {_AGGREGATED}
FROM rollup_touched m JOIN telemetry_samples s
  ON s.device_id = m.device_id AND s.t >= m.t AND s.t < m.t + interval '1 minute'
WHERE s.stored_at <= %(until)s AND s.worn IS NOT false
GROUP BY s.device_id, m.t
ON CONFLICT (device_id, t) DO UPDATE SET {_UPSERT_SET}"""

_ROLL_HOURS = f"""
INSERT INTO telemetry_hour (device_id, t, {_COLUMNS})
SELECT r.device_id, h.t, {_MERGED}
FROM (SELECT DISTINCT device_id, time_bucket('1 hour', t) AS t FROM rollup_touched) h
JOIN telemetry_minute r
  ON r.device_id = h.device_id AND r.t >= h.t AND r.t < h.t + interval '1 hour'
GROUP BY 1, 2
ON CONFLICT (device_id, t) DO UPDATE SET {_UPSERT_SET}"""

# Rows stored up to `until` are all committed: it stays `settle_s` behind now and before the
# start of every transaction that has written and is still open (pg_stat_activity shows other
# roles' transactions only to members of pg_read_all_stats; otherwise settle_s alone holds).
_UNTIL = """
SELECT w.stored_at,
       least(now() - make_interval(secs => %(settle_s)s),
             (SELECT min(xact_start) - interval '1 microsecond' FROM pg_stat_activity
              WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
                AND datname = current_database()))
FROM telemetry_rollup_watermark w FOR UPDATE"""


@dataclass(frozen=True)
class RollupRun:
    """What one run did: the stored_at window it covered and the buckets it rewrote."""

    since: datetime
    until: datetime
    minutes: int
    hours: int
    caught_up: bool  # False: the window was capped, run again soon


def roll_up(conn: psycopg.Connection, *, settle_s: float, max_window_s: float) -> RollupRun | None:
    """Roll up samples stored since the watermark; None when another run holds the lock.

    Safe to run twice and concurrently: buckets are recomputed from raw rows, not added to.
    At most `max_window_s` of stored_at is covered per run (samples stored before migration
    038 share one stored_at, so the first run covers them all). `conn` must not be in a
    transaction.
    """
    with conn.transaction():
        locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (ROLLUP_LOCK,))
        if not returned_row(locked)[0]:
            return None
        since, ready = returned_row(conn.execute(_UNTIL, {"settle_s": settle_s}))
        until = min(ready, since + timedelta(seconds=max_window_s))
        if until <= since:
            return RollupRun(since, since, 0, 0, caught_up=True)
        params = {"since": since, "until": until}
        conn.execute(_TOUCHED_MINUTES, params)
        minutes = conn.execute(_ROLL_MINUTES, params).rowcount
        hours = conn.execute(_ROLL_HOURS).rowcount
        conn.execute("UPDATE telemetry_rollup_watermark SET stored_at = %s", (until,))
    return RollupRun(since, until, minutes, hours, caught_up=until >= ready)


def oldest_unrolled(conn: psycopg.Connection) -> datetime | None:
    """The earliest sample time among samples not yet rolled up (None: all are)."""
    row = conn.execute(
        """SELECT min(t) FROM telemetry_samples
           WHERE stored_at > (SELECT stored_at FROM telemetry_rollup_watermark)"""
    ).fetchone()
    return row[0] if row else None


def partials_sql(width: Width, bands: str) -> str:
    """SQL for the partials of the worn samples of `bands`, from roll-ups where they allow.

    `bands` names a relation (device_id, since) given by the caller's WITH; the samples are
    those with `since <= t < %(end)s`. Whole buckets come from the roll-up table of `width`
    plus the samples stored after the watermark; buckets cut by `since` or `end` from raw
    samples. Columns: device_id, t (bucket start, or the sample's time), then those of the
    roll-up tables.
    """
    step = f"interval '1 {width}'"
    edges = f"""(SELECT device_id, since,
                CASE WHEN time_bucket({step}, since) = since THEN since
                     ELSE time_bucket({step}, since) + {step} END AS full_from,
                time_bucket({step}, %(end)s::timestamptz) AS full_to
            FROM {bands})"""
    raw = f"SELECT s.device_id, s.t, {_SAMPLE_PARTIAL} FROM {edges} b JOIN telemetry_samples s"
    return f"""
        SELECT r.device_id, r.t, {", ".join("r." + c for c in _COLUMN_NAMES)}
        FROM {edges} b JOIN {_TABLE[width]} r ON r.device_id = b.device_id
         AND r.t >= b.full_from AND r.t < b.full_to
        UNION ALL
        {raw} ON s.device_id = b.device_id AND s.t >= b.full_from AND s.t < b.full_to
         AND s.stored_at > (SELECT stored_at FROM telemetry_rollup_watermark)
        WHERE s.worn IS NOT false
        UNION ALL
        {raw} ON s.device_id = b.device_id AND s.t >= b.since
         AND s.t < least(b.full_from, %(end)s)
        WHERE s.worn IS NOT false
        UNION ALL
        {raw} ON s.device_id = b.device_id AND s.t >= greatest(b.full_to, b.full_from)
         AND s.t < %(end)s
        WHERE s.worn IS NOT false"""
