"""Daily rollups of the bands' data per resident (`care_days`), kept fresh on demand.

The daily check list looks back 30 days; reading 30 days of minute samples for a whole
community on every request would not fit in seconds, so each local day is aggregated once
with `time_bucket` into sums and counts per resident. Days before yesterday are final once
rolled up after they closed (plus a grace period for late uploads); today, and yesterday
until its grace period ends, are recomputed when older than `STALE_AFTER`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from api.db import DbConn

STALE_AFTER = timedelta(minutes=10)
LATE_GRACE = timedelta(hours=2)
# A night fix counts as away from home when even its accuracy circle lies beyond this.
HOME_RADIUS_M = 300.0
NIGHT_FROM_H, NIGHT_UNTIL_H = 22, 6

# Attribution: samples belong to the resident the band is bound to now.
_REFRESH = """
WITH bands AS (
    SELECT device_id, resident_id FROM devices WHERE resident_id IS NOT NULL
), s AS (
    SELECT b.resident_id,
           (time_bucket('1 day', t.t, %(tz)s) AT TIME ZONE %(tz)s)::date AS day,
           count(*) AS samples, count(t.worn) AS worn_known,
           count(*) FILTER (WHERE t.worn) AS worn_samples, max(t.steps) AS steps,
           sum(t.hr) AS hr_sum, count(t.hr) AS hr_n, sum(t.sbp) AS sbp_sum, count(t.sbp) AS sbp_n,
           max(t.t) AS last_t
    FROM telemetry_samples t JOIN bands b USING (device_id)
    WHERE t.t >= %(start)s AND t.t < %(end)s
    GROUP BY 1, 2
), fx AS (
    SELECT b.resident_id, l.t,
           (time_bucket('1 day', l.t, %(tz)s) AT TIME ZONE %(tz)s)::date AS day,
           extract(hour FROM l.t AT TIME ZONE %(tz)s) NOT BETWEEN %(night_until)s
               AND %(night_from)s - 1 AS night,
           6371000 * sqrt(power(radians(l.lat - r.home_lat), 2)
               + power(cos(radians(r.home_lat)) * radians(l.lon - r.home_lon), 2)) AS dist_m,
           l.acc_m
    FROM location_fixes l JOIN bands b USING (device_id)
    JOIN residents r ON r.resident_id = b.resident_id
    WHERE l.t >= %(start)s AND l.t < %(end)s
), f AS (
    SELECT resident_id, day, count(*) FILTER (WHERE night) AS night_fixes,
           count(*) FILTER (WHERE night AND dist_m - acc_m > %(radius)s) AS night_out_fixes,
           max(dist_m) FILTER (WHERE night AND dist_m - acc_m > %(radius)s) AS night_max_m,
           max(t) AS last_t
    FROM fx GROUP BY 1, 2
)
INSERT INTO care_days (resident_id, day, samples, worn_known, worn_samples, steps, hr_sum, hr_n,
                       sbp_sum, sbp_n, last_t, night_fixes, night_out_fixes, night_max_m)
SELECT resident_id, day, coalesce(s.samples, 0), coalesce(s.worn_known, 0),
       coalesce(s.worn_samples, 0), s.steps, s.hr_sum, coalesce(s.hr_n, 0), s.sbp_sum,
       coalesce(s.sbp_n, 0), greatest(s.last_t, f.last_t), coalesce(f.night_fixes, 0),
       coalesce(f.night_out_fixes, 0), f.night_max_m
FROM s FULL JOIN f USING (resident_id, day)
"""

# Columns the daily list reads, `age_d` = days before today (0 = today), and their binary
# layout: each rollup row also keeps its figures packed (fixed-width, big-endian, NaN for
# missing; the day as days since 2000-01-01), so reading the window is one concatenation
# on the server and one numpy view here. For 20,000 residents that is 600,000 rows: as
# text, the server's number formatting alone took seconds, and a Python object per value
# more.
DAY_LAYOUT = np.dtype(
    [
        ("resident_id", ">i8"),
        ("age_d", ">i4"),
        ("samples", ">i4"),
        ("worn_known", ">i4"),
        ("worn_samples", ">i4"),
        ("steps", ">f8"),
        ("hr_sum", ">f8"),
        ("hr_n", ">i4"),
        ("sbp_sum", ">f8"),
        ("sbp_n", ">i4"),
        ("last_t_s", ">f8"),
        ("night_out_fixes", ">i4"),
        ("night_max_m", ">f4"),
    ]
)
DAY_COLUMNS = tuple(DAY_LAYOUT.names or ())
EPOCH_DAY = date(2000, 1, 1)
_PACK = """
UPDATE care_days SET packed =
    int8send(resident_id) || int4send(day - DATE '2000-01-01') || int4send(samples)
    || int4send(worn_known) || int4send(worn_samples)
    || float8send(coalesce(steps::float8, 'NaN')) || float8send(coalesce(hr_sum, 'NaN'))
    || int4send(hr_n) || float8send(coalesce(sbp_sum, 'NaN')) || int4send(sbp_n)
    || float8send(coalesce(date_part('epoch', last_t), 'NaN')) || int4send(night_out_fixes)
    || float4send(coalesce(night_max_m, 'NaN'))
WHERE day = %s"""
_READ = """
SELECT string_agg(packed, '') AS packed
FROM care_days JOIN ({seen}) AS seen USING (resident_id)
WHERE day > %(today)s::date - %(days)s AND day <= %(today)s::date"""


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a local day starts and ends."""
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def stale_days(
    refreshed: dict[date, datetime], *, today: date, days: int, now: datetime, zone: ZoneInfo
) -> list[date]:
    """The days of the window whose rollup is missing or may have changed since."""
    stale = []
    for age in range(days):
        day = today - timedelta(days=age)
        at = refreshed.get(day)
        closed_at = local_day_bounds(day, zone)[1] + LATE_GRACE
        if at is None or (at < closed_at and (now >= closed_at or now - at > STALE_AFTER)):
            stale.append(day)
    return stale


async def refresh(
    *, conn: DbConn, today: date, days: int, now: datetime, zone: ZoneInfo
) -> list[date]:
    """Roll up the stale days of the window; the days it recomputed.

    One refresher at a time (a transaction-level advisory lock); a second caller waits for
    it and then finds the days fresh.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('care_rollup'))")
        rows = await (
            await conn.execute(
                "SELECT day, refreshed_at FROM care_rollup_days WHERE day > %s",
                (today - timedelta(days=days),),
            )
        ).fetchall()
        todo = stale_days(
            {r["day"]: r["refreshed_at"] for r in rows}, today=today, days=days, now=now, zone=zone
        )
        for day in todo:
            start, end = local_day_bounds(day, zone)
            await conn.execute("DELETE FROM care_days WHERE day = %s", (day,))
            await conn.execute(
                _REFRESH,
                {
                    "tz": zone.key,
                    "start": start,
                    "end": end,
                    "radius": HOME_RADIUS_M,
                    "night_from": NIGHT_FROM_H,
                    "night_until": NIGHT_UNTIL_H,
                },
            )
            await conn.execute(_PACK, (day,))
            await conn.execute(
                """INSERT INTO care_rollup_days (day, refreshed_at) VALUES (%s, %s)
                   ON CONFLICT (day) DO UPDATE SET refreshed_at = excluded.refreshed_at""",
                (day, now),
            )
    return todo


async def read_days(
    *, conn: DbConn, seen_sql: str, params: dict, today: date, days: int
) -> pd.DataFrame:
    """The window's rollups as one frame (columns DAY_COLUMNS), for the residents that
    `seen_sql` (a constant SELECT of resident_id, with its `params`) names."""
    query = _READ.replace("{seen}", seen_sql)
    row = await (
        await conn.execute(query, {**params, "today": today, "days": days}, binary=True)
    ).fetchone()
    packed = b"" if row is None or row["packed"] is None else row["packed"]
    table = np.frombuffer(packed, dtype=DAY_LAYOUT).copy()
    table["age_d"] = (today - EPOCH_DAY).days - table["age_d"]  # stored: the day's number
    return pd.DataFrame(
        {name: table[name].astype(table[name].dtype.newbyteorder("=")) for name in DAY_COLUMNS}
    )
