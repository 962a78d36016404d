"""Location history is kept for `api_location_retention_days`, then deleted."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from ingest.retention import drop_chunks_before


def purge_expired_fixes(*, conn: psycopg.Connection, retention_days: int, now: datetime) -> int:
    """Delete location history older than the retention period; return rows deleted.

    Whole chunks past it are dropped first (cheap at any size); the rows left in the chunk
    that straddles the cutoff are deleted.
    """
    cutoff = now - timedelta(days=retention_days)
    with conn.transaction():
        drop_chunks_before(conn, table="location_fixes", cutoff=cutoff)
    return conn.execute("DELETE FROM location_fixes WHERE t < %s", (cutoff,)).rowcount
