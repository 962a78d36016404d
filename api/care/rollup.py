"""Daily rollups of the bands' data per resident (`care_days`), kept by a background job.

The daily check list looks back 30 days; reading 30 days of minute samples for a whole
community on every request would not fit in seconds, so each local day is aggregated with
`time_bucket` into sums and counts per resident, and the list reads only those.

`advance` (run by `eldercare jobs` every `care_rollup_interval_s`) keeps them current. Its
*watermark* is a `received_at` instant: `care_days` holds exactly the rows stored up to it.
Each run adds the rows received since (up to `lag` before now, so a batch still being
committed is not skipped) to their day's sums, whatever day they belong to: a band's late
upload for yesterday lands on yesterday. A day missing from the window is rolled up whole;
so is each day once more after it closed plus `LATE_GRACE`, which settles any row that was
committed later than its `received_at` plus the lag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from api.db import DbConn

LATE_GRACE = timedelta(hours=2)
# A night fix counts as away from home when even its accuracy circle lies beyond this.
HOME_RADIUS_M = 300.0
NIGHT_FROM_H, NIGHT_UNTIL_H = 22, 6
NEVER = datetime.min.replace(tzinfo=ZoneInfo("UTC"))

# The rows received in (since, upto] with a time in [start, end), summed per resident and
# local day and merged into care_days (sums add, maxima take the larger). Attribution:
# samples belong to the resident the band is bound to when they are rolled up.
_MERGE = """
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
      AND t.received_at > %(since)s AND t.received_at <= %(upto)s
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
      AND l.received_at > %(since)s AND l.received_at <= %(upto)s
), f AS (
    SELECT resident_id, day, count(*) FILTER (WHERE night) AS night_fixes,
           count(*) FILTER (WHERE night AND dist_m - acc_m > %(radius)s) AS night_out_fixes,
           max(dist_m) FILTER (WHERE night AND dist_m - acc_m > %(radius)s) AS night_max_m,
           max(t) AS last_t
    FROM fx GROUP BY 1, 2
), merged AS (
INSERT INTO care_days AS c (resident_id, day, samples, worn_known, worn_samples, steps, hr_sum,
                            hr_n, sbp_sum, sbp_n, last_t, night_fixes, night_out_fixes,
                            night_max_m)
SELECT resident_id, day, coalesce(s.samples, 0), coalesce(s.worn_known, 0),
       coalesce(s.worn_samples, 0), s.steps, s.hr_sum, coalesce(s.hr_n, 0), s.sbp_sum,
       coalesce(s.sbp_n, 0), greatest(s.last_t, f.last_t), coalesce(f.night_fixes, 0),
       coalesce(f.night_out_fixes, 0), f.night_max_m
FROM s FULL JOIN f USING (resident_id, day)
ON CONFLICT (day, resident_id) DO UPDATE SET
    samples = c.samples + excluded.samples,
    worn_known = c.worn_known + excluded.worn_known,
    worn_samples = c.worn_samples + excluded.worn_samples,
    steps = greatest(c.steps, excluded.steps),
    hr_sum = coalesce(c.hr_sum + excluded.hr_sum, c.hr_sum, excluded.hr_sum),
    hr_n = c.hr_n + excluded.hr_n,
    sbp_sum = coalesce(c.sbp_sum + excluded.sbp_sum, c.sbp_sum, excluded.sbp_sum),
    sbp_n = c.sbp_n + excluded.sbp_n,
    last_t = greatest(c.last_t, excluded.last_t),
    night_fixes = c.night_fixes + excluded.night_fixes,
    night_out_fixes = c.night_out_fixes + excluded.night_out_fixes,
    night_max_m = greatest(c.night_max_m, excluded.night_max_m)
RETURNING day
)
SELECT day, count(*) AS n FROM merged GROUP BY day
"""

# Columns the daily list reads, `age_d` = days before today (0 = today), and their binary
# layout: each rollup row also keeps its figures packed (fixed-width, big-endian, NaN for
# missing; the day as days since 2000-01-01; a trigger keeps it, migration 034), so reading
# the window is one concatenation on the server and one numpy view here. For 20,000
# residents that is 600,000 rows: as text, the server's number formatting alone took
# seconds, and a Python object per value more.
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
NATIVE_DAY_LAYOUT = DAY_LAYOUT.newbyteorder("=")
EPOCH_DAY = date(2000, 1, 1)
_PACK = """
INSERT INTO care_day_blocks (day, packed)
SELECT day, string_agg(packed, '' ORDER BY resident_id) FROM care_days
WHERE day = ANY(%(days)s) GROUP BY day
"""


@dataclass(frozen=True)
class RollupRun:
    """What one run of the job did."""

    whole_days: list[date]  # rolled up from scratch
    merged_rows: int  # (resident, day) rows that new data added to
    received_upto: datetime  # the new watermark


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a local day starts and ends."""
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def stale_days(
    refreshed: dict[date, datetime], *, today: date, days: int, now: datetime, zone: ZoneInfo
) -> list[date]:
    """The days of the window to roll up whole: never rolled up, or closed (plus the grace
    for late uploads) since they last were."""
    stale = []
    for age in range(days):
        day = today - timedelta(days=age)
        at = refreshed.get(day)
        closed_at = local_day_bounds(day, zone)[1] + LATE_GRACE
        if at is None or at < closed_at <= now:
            stale.append(day)
    return stale


async def advance(
    *, conn: DbConn, now: datetime, zone: ZoneInfo, days: int, lag: timedelta
) -> RollupRun:
    """Bring the window's rollups up to `now - lag` (one run of the background job).

    One run at a time (a transaction-level advisory lock), all in one transaction, so the
    list reads either the old state or the new one.
    """
    today = now.astimezone(zone).date()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('care_rollup'))")
        row = await (
            await conn.execute("SELECT received_upto FROM care_rollup_watermark")
        ).fetchone()
        upto = now - lag
        since = upto if row is None else min(row["received_upto"], upto)
        whole = await _whole_days(conn, today=today, days=days, now=now, zone=zone, upto=since)
        first_day = today - timedelta(days=days - 1)
        start = local_day_bounds(first_day, zone)[0]
        merged: dict[date, int] = {}
        if upto > since:
            cur = await conn.execute(
                _MERGE,
                _params(zone, start, local_day_bounds(today, zone)[1], since=since, upto=upto),
            )
            merged = {r["day"]: r["n"] for r in await cur.fetchall()}
        await _pack(conn, sorted({*whole, *merged}), first_day=first_day)
        await conn.execute(
            """INSERT INTO care_rollup_watermark (received_upto) VALUES (%s)
               ON CONFLICT (singleton) DO UPDATE SET received_upto = excluded.received_upto""",
            (max(since, upto),),
        )
    return RollupRun(
        whole_days=whole, merged_rows=sum(merged.values()), received_upto=max(since, upto)
    )


async def _whole_days(
    conn: DbConn, *, today: date, days: int, now: datetime, zone: ZoneInfo, upto: datetime
) -> list[date]:
    """Roll up from scratch, with the rows received up to `upto`, the days that need it."""
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
        await conn.execute("DELETE FROM care_days WHERE day = %s", (day,))
        await conn.execute(
            _MERGE, _params(zone, *local_day_bounds(day, zone), since=NEVER, upto=upto)
        )
        await conn.execute(
            """INSERT INTO care_rollup_days (day, refreshed_at) VALUES (%s, %s)
               ON CONFLICT (day) DO UPDATE SET refreshed_at = excluded.refreshed_at""",
            (day, now),
        )
    return todo


async def _pack(conn: DbConn, days: list[date], *, first_day: date) -> None:
    """Rebuild the blocks the list reads for `days`; drop those that left the window."""
    await conn.execute(
        "DELETE FROM care_day_blocks WHERE day = ANY(%s) OR day < %s", (days, first_day)
    )
    if days:
        await conn.execute(_PACK, {"days": days})


def _params(
    zone: ZoneInfo, start: datetime, end: datetime, *, since: datetime, upto: datetime
) -> dict:
    return {
        "tz": zone.key,
        "start": start,
        "end": end,
        "since": since,
        "upto": upto,
        "radius": HOME_RADIUS_M,
        "night_from": NIGHT_FROM_H,
        "night_until": NIGHT_UNTIL_H,
    }


async def watermark(*, conn: DbConn) -> datetime | None:
    """Up to when stored data is in the rollups (None before the job's first run)."""
    row = await (await conn.execute("SELECT received_upto FROM care_rollup_watermark")).fetchone()
    return None if row is None else row["received_upto"]


async def read_days(*, conn: DbConn, today: date, days: int) -> np.ndarray:
    """The window's rollup rows, every resident's, as a structured array (fields DAY_COLUMNS,
    native byte order; `age_d` 0 = today): callers keep the rows of the residents they show."""
    cur = await conn.execute(
        "SELECT packed FROM care_day_blocks WHERE day > %s AND day <= %s ORDER BY day",
        (today - timedelta(days=days), today),
        binary=True,
    )
    packed = b"".join(row["packed"] for row in await cur.fetchall())
    table = np.frombuffer(packed, dtype=DAY_LAYOUT).astype(NATIVE_DAY_LAYOUT)
    table["age_d"] = (today - EPOCH_DAY).days - table["age_d"]  # stored: the day's number
    return table
