"""Baselines read from the roll-ups are the baselines computed over the raw samples."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from alerting.engine import refresh_baselines
from tests.alerting.factories import make_resident
from tests.ingest.test_rollups import generated, insert_samples, roll_up_all

RAW_BASELINES = """
WITH zone AS (
    SELECT r.resident_id, coalesce(n.name, 'Asia/Shanghai') AS name
    FROM residents r LEFT JOIN pg_timezone_names n ON n.name = r.timezone)
SELECT d.resident_id, extract(hour FROM s.t AT TIME ZONE z.name)::smallint,
       avg(s.hr)::real, coalesce(stddev_samp(s.hr), 0)::real, count(*)::int,
       count(DISTINCT (s.t AT TIME ZONE z.name)::date)::int
FROM telemetry_samples s
JOIN devices d ON d.device_id = s.device_id
JOIN zone z ON z.resident_id = d.resident_id
WHERE s.t >= %(now)s - interval '4 weeks' AND s.t < %(now)s - interval '1 day'
  AND s.hr IS NOT NULL AND s.worn IS NOT FALSE AND s.t >= coalesce(d.bound_at, '-infinity')
  AND d.resident_id = ANY(%(residents)s)
GROUP BY 1, 2 ORDER BY 1, 2"""


def test_baselines_from_roll_ups_equal_baselines_over_raw_samples(
    clean_alerts, database_url, new_band_ids
):
    db = clean_alerts
    rng = random.Random(1438)
    now = datetime.now(UTC)
    bands = new_band_ids(3)
    residents = [
        make_resident(db, band, timezone=zone)
        for band, zone in zip(bands, ("Asia/Shanghai", "Asia/Kolkata", "Nowhere/Else"), strict=True)
    ]
    # Bound mid-minute, after samples of a previous wearer.
    db.execute(
        "UPDATE devices SET bound_at = %s WHERE device_id = ANY(%s)",
        (now - timedelta(days=5, minutes=17, seconds=13.5), bands),
    )
    insert_samples(db, generated(bands, now - timedelta(days=6), 6 * 1440, rng))
    roll_up_all(database_url)
    late = generated(bands, now - timedelta(days=4), 1440, rng)
    insert_samples(db, late[::7])  # stored after the roll-up: read raw

    refresh_baselines(db, now=now)
    got = db.execute(
        """SELECT resident_id, hour, hr_mean, hr_std, hr_n, days FROM resident_baselines
           WHERE resident_id = ANY(%s) ORDER BY 1, 2""",
        (residents,),
    ).fetchall()
    expected = db.execute(RAW_BASELINES, {"now": now, "residents": residents}).fetchall()
    assert len(got) == 3 * 24
    assert [(r, h, mean, n, days) for r, h, mean, _, n, days in got] == [
        (r, h, mean, n, days) for r, h, mean, _, n, days in expected
    ]
    assert [g[3] for g in got] == pytest.approx([e[3] for e in expected], rel=1e-6)
