"""The audit log is kept for `storage_audit_retention_days`, then deleted."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg


def purge_expired_audit(*, conn: psycopg.Connection, retention_days: int, now: datetime) -> int:
    """Delete audit entries older than the retention period; return how many."""
    cutoff = now - timedelta(days=retention_days)
    return conn.execute("DELETE FROM audit_log WHERE at < %s", (cutoff,)).rowcount
