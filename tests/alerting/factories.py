"""Factories for alerting tests: residents, bands and generated band data (numpy)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 08:00 in Asia/Shanghai
HOME = (41.108, 122.994)  # WGS-84


def make_resident(conn: psycopg.Connection, device_id: str | None = None, **fields) -> int:
    """Insert a resident (optionally bound to a band); return the resident id."""
    values = {
        "full_name": "Test Resident",
        "birth_date": date(1941, 5, 3),
        "sex": "female",
        "address": "3-2-501 Hexie Lu",
        "phone": "13800000000",
        "medical_notes": "",
        "home_lat": HOME[0],
        "home_lon": HOME[1],
    }
    values.update(fields)
    cols = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    resident_id = conn.execute(
        f"INSERT INTO residents ({cols}) VALUES ({marks}) RETURNING resident_id",
        list(values.values()),
    ).fetchone()[0]
    if device_id:
        conn.execute(
            "UPDATE devices SET resident_id = %s WHERE device_id = %s", (resident_id, device_id)
        )
    return resident_id


def add_contact(conn, resident_id: int, name="Li Wei", phone="13900000001", relation="son"):
    conn.execute(
        "INSERT INTO emergency_contacts (resident_id, name, relation, phone) VALUES (%s,%s,%s,%s)",
        (resident_id, name, relation, phone),
    )


def insert_telemetry(
    conn,
    device_id: str,
    t: list[datetime] | np.ndarray,
    *,
    hr=None,
    sbp=None,
    dbp=None,
    steps=None,
    worn=None,
    received_at: datetime | None = None,
) -> None:
    """Insert samples; each metric is a sequence aligned with t (None entries = not reported)."""
    n = len(t)

    def col(values):
        if values is None:
            return [None] * n
        return [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in values]

    hr_c, sbp_c, dbp_c, steps_c, worn_c = map(col, (hr, sbp, dbp, steps, worn))
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY telemetry_samples (device_id, t, hr, sbp, dbp, steps, worn, received_at)"
            " FROM STDIN"
        ) as copy,
    ):
        for i in range(n):
            copy.write_row(
                (
                    device_id,
                    t[i],
                    _int(hr_c[i]),
                    _int(sbp_c[i]),
                    _int(dbp_c[i]),
                    _int(steps_c[i]),
                    None if worn_c[i] is None else bool(worn_c[i]),
                    received_at or t[i],
                )
            )


def _int(v):
    return None if v is None else int(v)


def insert_fixes(conn, device_id: str, t, lat, lon, acc_m, *, src="gnss") -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY location_fixes (device_id, t, lat, lon, acc_m, src, received_at) FROM STDIN"
        ) as copy,
    ):
        for i in range(len(t)):
            copy.write_row(
                (device_id, t[i], float(lat[i]), float(lon[i]), float(acc_m[i]), src, t[i])
            )


def insert_event(
    conn, device_id: str, event_id: str, kind: str, t: datetime, lat=None, lon=None, acc_m=None
) -> dict:
    conn.execute(
        """INSERT INTO device_events (device_id, event_id, t, type, lat, lon, acc_m, received_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (device_id, event_id, t, kind, lat, lon, acc_m, t),
    )
    return {
        "device_id": device_id,
        "event_id": event_id,
        "type": kind,
        "t_ms": int(t.timestamp() * 1000),
        "lat": lat,
        "lon": lon,
        "acc_m": acc_m,
    }


def set_status(conn, device_id: str, at: datetime, *, online=True, battery=80, charging=False):
    conn.execute(
        """INSERT INTO device_status (device_id, sent_at, online, battery, charging, received_at)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (device_id) DO UPDATE SET sent_at = EXCLUDED.sent_at,
             online = EXCLUDED.online, battery = EXCLUDED.battery, charging = EXCLUDED.charging,
             received_at = EXCLUDED.received_at""",
        (device_id, at, online, battery, charging, at),
    )


def minutes(start: datetime, n: int, step_s: int = 60) -> list[datetime]:
    return [start + timedelta(seconds=step_s * i) for i in range(n)]


def normal_day(rng: np.random.Generator, n_minutes: int, start_minute_local: int = 480):
    """A day of an ordinary resident, one sample a minute: HR, BP every 30 min, steps, worn.

    Walks (HR up to ~110 with steps moving) in the daytime; sleep at night; band worn.
    """
    local_min = (start_minute_local + np.arange(n_minutes)) % 1440
    night = (local_min < 360) | (local_min >= 1320)
    walking = ~night & (rng.random(n_minutes) < 0.08)
    walking = walking | np.roll(walking, 1) | np.roll(walking, 2)  # walks last a few minutes
    hr = np.where(night, 58, 72) + rng.normal(0, 4, n_minutes) + np.where(walking, 30, 0)
    hr = np.clip(np.round(hr), 45, 125)
    step_inc = np.where(walking, rng.integers(60, 110, n_minutes), 0)
    steps = np.cumsum(step_inc)
    day = (start_minute_local + np.arange(n_minutes)) // 1440
    for d in np.unique(day)[1:]:  # midnight reset
        first = np.argmax(day == d)
        steps[first:] -= steps[first - 1]
    bp_every = (np.arange(n_minutes) % 30) == 0
    sbp = np.where(bp_every, np.round(rng.normal(132, 8, n_minutes)), np.nan)
    dbp = np.where(bp_every, np.round(rng.normal(80, 5, n_minutes)), np.nan)
    return hr, sbp, dbp, steps.astype(float), np.ones(n_minutes)
