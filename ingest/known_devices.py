"""Which bands may send data, cached, and re-checked in the database on a miss."""

from __future__ import annotations

import time

import psycopg

from ingest.parse import ParsedMessage

RECHECK_AFTER_S = 2.0


class KnownDevices:
    """Active device ids; a band provisioned a moment ago is found on its first message."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._misses_checked_at: dict[str, float] = {}

    def ensure(self, conn: psycopg.Connection, messages: list[ParsedMessage]) -> set[str]:
        """Return the known set, after looking up in the database any ids it lacks."""
        now = time.monotonic()
        missing = {
            m.device_id for m in messages
            if m.device_id and m.device_id not in self._known
            and now - self._misses_checked_at.get(m.device_id, -1e9) > RECHECK_AFTER_S
        }
        if missing:
            rows = conn.execute(
                "SELECT device_id FROM devices WHERE state = 'active' AND device_id = ANY(%s)",
                (list(missing),),
            ).fetchall()
            conn.commit()
            found = {row[0] for row in rows}
            self._known |= found
            for device_id in missing - found:
                self._misses_checked_at[device_id] = now
            if len(self._misses_checked_at) > 100_000:
                self._misses_checked_at.clear()
        return self._known
