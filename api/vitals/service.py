"""A resident's vital-sign history in time_buckets, read from the roll-ups where they allow."""

from __future__ import annotations

from datetime import datetime, timedelta

from api.db import DbConn
from api.residents import service as residents
from api.vitals.models import VitalsThresholds
from ingest import rollups

MAX_BUCKETS = 360  # enough points for a chart a few hundred pixels wide
MIN_BUCKET_S = 60


def bucket_for(start: datetime, end: datetime) -> timedelta:
    """The bucket width that keeps the history near MAX_BUCKETS buckets, in whole minutes."""
    minutes = round((end - start).total_seconds() / MAX_BUCKETS / 60)
    return timedelta(seconds=max(MIN_BUCKET_S, minutes * 60))


# Whole minutes from the roll-ups, the rest from raw samples: the same figures as a
# time_bucket over the raw samples (bucket widths are whole minutes).
_HISTORY = f"""
WITH bands AS (
    SELECT device_id, greatest(%(start)s::timestamptz, coalesce(bound_at, '-infinity')) AS since
    FROM devices WHERE resident_id = %(rid)s),
partials AS ({rollups.partials_sql("minute", "bands")})
SELECT time_bucket(%(bucket)s, t) AS t,
       (sum(hr_sum) / nullif(sum(hr_n), 0))::float8 AS hr_avg,
       min(hr_min) AS hr_min, max(hr_max) AS hr_max,
       max(sbp_max) AS sbp_max, max(dbp_max) AS dbp_max,
       (sum(sbp_sum) / nullif(sum(sbp_n), 0))::float8 AS sbp_avg,
       (sum(dbp_sum) / nullif(sum(dbp_n), 0))::float8 AS dbp_avg,
       max(steps_max) AS steps, sum(n)::int AS samples
FROM partials GROUP BY 1 ORDER BY 1"""


async def history(
    *, conn: DbConn, resident_id: int, start: datetime, end: datetime, bucket: timedelta
) -> list[dict]:
    """Buckets of every band the resident wore over [start, end) (worn samples only)."""
    cur = await conn.execute(
        _HISTORY, {"bucket": bucket, "rid": resident_id, "start": start, "end": end}
    )
    return await cur.fetchall()


async def thresholds(*, conn: DbConn, resident_id: int) -> VitalsThresholds:
    """The thresholds the engine applies to this resident (defaults with overrides)."""
    current = await residents.get_thresholds(conn=conn, resident_id=resident_id)
    merged = {**current["defaults"], **current["overrides"]}
    return VitalsThresholds.model_validate(merged)
