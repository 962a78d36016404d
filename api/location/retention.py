"""Location history is kept for `api_location_retention_days`, then deleted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

import psycopg

from ingest.retention import drop_chunks_before


class FixesPurged(NamedTuple):
    chunks_dropped: int
    rows_deleted: int


def purge_expired_fixes(
    *, conn: psycopg.Connection, retention_days: int, now: datetime
) -> FixesPurged:
    """Delete location history older than the retention period; say how much went.

    Whole chunks past it are dropped first (cheap at any size); the rows left in the chunk
    that straddles the cutoff are deleted.
    """
    cutoff = now - timedelta(days=retention_days)
    with conn.transaction():
        chunks = drop_chunks_before(conn, table="location_fixes", cutoff=cutoff)
    rows = conn.execute("DELETE FROM location_fixes WHERE t < %s", (cutoff,)).rowcount
    return FixesPurged(chunks, rows)
