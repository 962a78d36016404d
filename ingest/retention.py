"""Retention of what bands send: whole chunks past their age are dropped (`drop_chunks`).

Raw samples not yet rolled up are never dropped: the cut stops at the oldest of them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from ingest.rollups import ROLLUP_LOCK, oldest_unrolled


def drop_chunks_before(conn: psycopg.Connection, *, table: str, cutoff: datetime) -> int:
    """Drop the chunks of hypertable `table` that end at or before `cutoff`; return how many."""
    row = conn.execute(
        "SELECT count(*) FROM drop_chunks(%s::regclass, older_than => %s::timestamptz)",
        (table, cutoff),
    ).fetchone()
    return int(row[0]) if row else 0


def drop_expired_telemetry(conn: psycopg.Connection, *, retention_days: int, now: datetime) -> int:
    """Drop raw telemetry chunks past `retention_days` whose samples are all rolled up."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLUP_LOCK,))
        cutoff = now - timedelta(days=retention_days)
        unrolled = oldest_unrolled(conn)
        if unrolled is not None:
            cutoff = min(cutoff, unrolled)
        return drop_chunks_before(conn, table="telemetry_samples", cutoff=cutoff)


def drop_expired(
    conn: psycopg.Connection, *, table: str, retention_days: int, now: datetime
) -> int:
    """Drop the chunks of `table` (a roll-up or device_events) past `retention_days`."""
    cutoff = now - timedelta(days=retention_days)
    with conn.transaction():
        return drop_chunks_before(conn, table=table, cutoff=cutoff)
