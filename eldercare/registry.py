"""The device registry as the pipeline sees it: which bands exist."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from eldercare.imei import is_valid_imei


def register_devices(conn: psycopg.Connection, device_ids: Iterable[str]) -> int:
    """Register bands that are not registered yet; return how many were new."""
    ids = list(device_ids)
    bad = [d for d in ids if not is_valid_imei(d)]
    if bad:
        raise ValueError(f"not a valid IMEI: {bad[0]!r}")
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO devices (device_id)
               SELECT unnest(%s::text[]) ON CONFLICT (device_id) DO NOTHING""",
            (ids,),
        )
        return cur.rowcount


def active_device_ids(conn: psycopg.Connection) -> set[str]:
    """Every band allowed to send data."""
    rows = conn.execute("SELECT device_id FROM devices WHERE state = 'active'").fetchall()
    return {row[0] for row in rows}
