"""Weeks of band history for many residents at once, for tests and benchmarks of the
daily check list: each resident's day given as a few figures, expanded to samples on arrays.

A *plan* is a set of (bands x days) matrices: the day's step total, mean heart rate, mean
systolic pressure and the share of samples worn; day 0 is the oldest local day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg

SAMPLE_COLUMNS = ("device_id", "t", "hr", "sbp", "dbp", "steps", "worn", "received_at")
_COPY = (
    "COPY telemetry_samples (device_id, t, hr, sbp, dbp, steps, worn, received_at)"
    " FROM STDIN WITH (FORMAT csv)"
)


@dataclass
class Plan:
    """What each band's days look like: (bands x days) matrices."""

    steps: np.ndarray
    hr: np.ndarray
    sbp: np.ndarray
    worn_fraction: np.ndarray

    @classmethod
    def healthy(cls, bands: int, days: int, rng: np.random.Generator) -> Plan:
        """Steady people: ~5000 steps, HR ~72, SBP ~125, band worn all day."""
        shape = (bands, days)
        return cls(
            steps=rng.normal(5000, 300, shape).clip(0),
            hr=rng.normal(72, 1.5, shape),
            sbp=rng.normal(125, 2.0, shape),
            worn_fraction=np.ones(shape),
        )


def samples(
    device_ids: list[str],
    plan: Plan,
    *,
    first_day: date,
    zone: ZoneInfo,
    interval_s: int,
    until: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Samples every `interval_s` from `first_day` on, each band's up to its `until` (epoch s)."""
    n, days = plan.steps.shape
    per_day = 86400 // interval_s
    start_s = datetime.combine(first_day, time(), zone).timestamp()
    slot = np.arange(days * per_day)
    day = slot // per_day
    # Day lengths vary around DST elsewhere; Asia/Shanghai has none, so days are 86400 s.
    t_s = start_s + slot * interval_s + rng.uniform(0, interval_s / 2, (n, slot.size))
    frac_of_day = (slot % per_day + 1) / per_day
    worn = rng.random((n, slot.size)) < plan.worn_fraction[:, day]
    keep = t_s < until[:, None]
    band = np.broadcast_to(np.arange(n)[:, None], keep.shape)[keep]
    return pd.DataFrame(
        {
            "device_id": np.asarray(device_ids)[band],
            "t": pd.to_datetime(t_s[keep], unit="s", utc=True),
            "hr": np.round(plan.hr[:, day] + rng.normal(0, 4, (n, slot.size)))[keep].astype(int),
            "sbp": np.round(plan.sbp[:, day] + rng.normal(0, 5, (n, slot.size)))[keep].astype(int),
            "dbp": np.full(keep.sum(), 80),
            "steps": np.round(plan.steps[:, day] * frac_of_day)[keep].astype(int),
            "worn": worn[keep],
        }
    )


def copy_samples(conn: psycopg.Connection, frame: pd.DataFrame) -> int:
    """Store samples as ingest would (received at their own time); how many.

    In time order, so each hypertable chunk is filled in one run.
    """
    rows = frame.sort_values("t", kind="stable")
    stamp = np.datetime_as_string(rows["t"].to_numpy(dtype="datetime64[us]"), unit="us")
    rows = rows.assign(t=np.char.add(stamp, "+00"), received_at=np.char.add(stamp, "+00"))
    rows = rows[list(SAMPLE_COLUMNS)]
    with conn.cursor() as cur, cur.copy(_COPY) as copy:
        for start in range(0, len(rows), 500_000):
            copy.write(rows.iloc[start : start + 500_000].to_csv(index=False, header=False))
    return len(frame)
