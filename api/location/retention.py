"""Location history is kept for `api_location_retention_days`, then deleted."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg


def purge_expired_fixes(*, conn: psycopg.Connection, retention_days: int, now: datetime) -> int:
    """Delete location history older than the retention period; return rows deleted."""
    cutoff = now - timedelta(days=retention_days)
    return conn.execute("DELETE FROM location_fixes WHERE t < %s", (cutoff,)).rowcount
