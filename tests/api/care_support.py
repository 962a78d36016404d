"""Shared set-up of the care tests: grids and residents with a band and a home, at a fixed
time (10:00 in Shanghai), written outside any one test so a module can build one world."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg

from api.jobs import Jobs
from eldercare.imei import make_imei
from eldercare.registry import register_devices
from eldercare.settings import Settings

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=ZONE).astimezone(UTC)


def new_grid(db: psycopg.Connection) -> int:
    return db.execute(
        "INSERT INTO grids (name) VALUES (%s) RETURNING grid_id", (f"care-{uuid.uuid4().hex[:8]}",)
    ).fetchone()[0]


def resident_with_band(
    db: psycopg.Connection, grid_id: int, name: str, home: tuple[float, float]
) -> tuple[int, str]:
    """A resident at `home` wearing a fresh band; (resident id, IMEI)."""
    rid = db.execute(
        """INSERT INTO residents (full_name, grid_id, phone, address, home_lat, home_lon)
           VALUES (%s, %s, '13800000000', '幸福里 3 号楼', %s, %s) RETURNING resident_id""",
        (name, grid_id, *home),
    ).fetchone()[0]
    imei = make_imei(uuid.uuid4().int % 10**6 + 4_000_000)
    register_devices(db, [imei])
    db.execute("UPDATE devices SET resident_id = %s WHERE device_id = %s", (rid, imei))
    return rid, imei


def roll_up_care(settings: Settings, now: datetime, *, from_scratch: bool = False) -> None:
    """One run of `eldercare jobs`' care rollup at `now` (`from_scratch`: forget the state
    first, as on a new install)."""
    if from_scratch:
        with psycopg.connect(settings.database_url.get_secret_value(), autocommit=True) as db:
            db.execute("DELETE FROM care_rollup_watermark")
            db.execute("DELETE FROM care_rollup_days")
            db.execute("DELETE FROM care_days")
    jobs = Jobs(settings, clock=lambda: now)
    jobs.run_once(jobs.roll_up_care)
