"""Which bands may send data, cached, and re-checked in the database on a miss."""

from __future__ import annotations

import time

import psycopg

from ingest.parse import ParsedMessage

RECHECK_MISS_AFTER_S = 2.0
FULL_REFRESH_S = 30.0  # how soon a revoked band's queued messages stop being accepted


class KnownDevices:
    """Active device ids; a band provisioned a moment ago is found on its first message."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._known: set[str] = set()
        self._misses_checked_at: dict[str, float] = {}
        self._refreshed_at = -1e9

    def ensure(self, conn: psycopg.Connection, messages: list[ParsedMessage]) -> set[str]:
        """Return the known set, after looking up in the database any ids it lacks."""
        now = self._clock()
        if now - self._refreshed_at > FULL_REFRESH_S:
            self._known = self._lookup(conn, None)
            self._misses_checked_at.clear()
            self._refreshed_at = now
        missing = {
            m.device_id
            for m in messages
            if m.device_id
            and m.device_id not in self._known
            and now - self._misses_checked_at.get(m.device_id, -1e9) > RECHECK_MISS_AFTER_S
        }
        if missing:
            found = self._lookup(conn, missing)
            self._known |= found
            for device_id in missing - found:
                self._misses_checked_at[device_id] = now
        return self._known

    @staticmethod
    def _lookup(conn: psycopg.Connection, ids: set[str] | None) -> set[str]:
        if ids is None:
            rows = conn.execute("SELECT device_id FROM devices WHERE state = 'active'").fetchall()
        else:
            rows = conn.execute(
                "SELECT device_id FROM devices WHERE state = 'active' AND device_id = ANY(%s)",
                (list(ids),),
            ).fetchall()
        conn.commit()
        return {row[0] for row in rows}
