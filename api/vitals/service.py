"""A resident's vital-sign history, aggregated in the database with TimescaleDB's time_bucket."""

from __future__ import annotations

from datetime import datetime, timedelta

from api.db import DbConn
from api.residents import service as residents
from api.vitals.models import VitalsThresholds

MAX_BUCKETS = 360  # enough points for a chart a few hundred pixels wide
MIN_BUCKET_S = 60


def bucket_for(start: datetime, end: datetime) -> timedelta:
    """The bucket width that keeps the history near MAX_BUCKETS buckets, in whole minutes."""
    minutes = round((end - start).total_seconds() / MAX_BUCKETS / 60)
    return timedelta(seconds=max(MIN_BUCKET_S, minutes * 60))


async def history(
    *, conn: DbConn, resident_id: int, start: datetime, end: datetime, bucket: timedelta
) -> list[dict]:
    """Buckets of every band the resident wore over [start, end) (worn samples only)."""
    cur = await conn.execute(
        """SELECT time_bucket(%(bucket)s, s.t) AS t,
                  avg(s.hr)::float8 AS hr_avg, min(s.hr) AS hr_min, max(s.hr) AS hr_max,
                  max(s.sbp) AS sbp_max, max(s.dbp) AS dbp_max,
                  avg(s.sbp)::float8 AS sbp_avg, avg(s.dbp)::float8 AS dbp_avg,
                  max(s.steps) AS steps, count(*)::int AS samples
           FROM telemetry_samples s JOIN devices d USING (device_id)
           WHERE d.resident_id = %(rid)s AND s.t >= %(start)s AND s.t < %(end)s
             AND s.t >= coalesce(d.bound_at, '-infinity') AND s.worn IS NOT false
           GROUP BY 1 ORDER BY 1""",
        {"bucket": bucket, "rid": resident_id, "start": start, "end": end},
    )
    return await cur.fetchall()


async def thresholds(*, conn: DbConn, resident_id: int) -> VitalsThresholds:
    """The thresholds the engine applies to this resident (defaults with overrides)."""
    current = await residents.get_thresholds(conn=conn, resident_id=resident_id)
    merged = {**current["defaults"], **current["overrides"]}
    return VitalsThresholds.model_validate(merged)
