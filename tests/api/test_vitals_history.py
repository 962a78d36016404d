"""Vital-sign history: time_bucket aggregates, bounded range, reach and audit, thresholds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tests.ingest.test_rollups import generated, insert_samples, roll_up_all


def _samples(db, device_id: str, now: datetime) -> None:
    """Two hours at one sample a minute: HR 70 for the first hour, 130 for the second."""
    db.execute(
        "UPDATE devices SET bound_at = %s WHERE device_id = %s",
        (now - timedelta(hours=3), device_id),
    )
    rows = [
        (
            device_id,
            now - timedelta(minutes=m),
            130 if m < 60 else 70,
            150 if m % 10 == 0 else None,
            95 if m % 10 == 0 else None,
            5000 - m,
        )
        for m in range(1, 121)
    ]
    with db.cursor() as cur:
        cur.executemany(
            """INSERT INTO telemetry_samples (device_id, t, hr, sbp, dbp, steps, worn, received_at)
               VALUES (%s, %s, %s, %s, %s, %s, true, now())""",
            rows,
        )


def test_family_reads_bucketed_history_with_thresholds_and_is_audited(
    client, family_world, bind_band, make_actor, db
) -> None:
    rid, fam = family_world["res_a"], family_world["fam_a"]
    device_id = bind_band(rid)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    _samples(db, device_id, now)
    staff = make_actor("duty_staff")
    client.put(
        f"/residents/{rid}/thresholds",
        json={"overrides": {"tachycardia_bpm": 125}},
        headers=staff.headers,
    )
    start = (now - timedelta(hours=2, minutes=1)).isoformat()
    response = client.get(
        f"/residents/{rid}/vitals/history",
        params={"start": start, "end": now.isoformat()},
        headers=fam.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bucket_s"] == 60
    items = body["items"]
    assert len(items) == 120 and sum(i["samples"] for i in items) == 120
    assert items[0]["hr_avg"] == 70 and items[-1]["hr_max"] == 130
    assert max(i["sbp_max"] or 0 for i in items) == 150
    assert items[-1]["steps"] == 4999
    assert body["thresholds"]["tachycardia_bpm"] == 125
    assert body["thresholds"]["crisis_sbp"] == 180
    audit = db.execute(
        "SELECT resident_id, action FROM audit_log WHERE account_id = %s", (fam.account_id,)
    ).fetchall()
    assert audit == [(rid, "vitals.history")]

    week = client.get(
        f"/residents/{rid}/vitals/history",
        params={"start": (now - timedelta(days=6)).isoformat()},
        headers=fam.headers,
    )
    assert week.status_code == 200
    assert len(week.json()["items"]) <= 1.5 * 360  # six days come in wider buckets
    assert sum(i["samples"] for i in week.json()["items"]) == 120


def test_history_of_someone_elses_elder_is_not_found_and_ranges_are_bounded(
    client, family_world, bind_band
) -> None:
    rid_b, fam_a = family_world["res_b"], family_world["fam_a"]
    bind_band(rid_b)
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).isoformat()
    other = client.get(
        f"/residents/{rid_b}/vitals/history", params={"start": start}, headers=fam_a.headers
    )
    assert other.status_code == 404
    rid_a = family_world["res_a"]
    too_long = client.get(
        f"/residents/{rid_a}/vitals/history",
        params={"start": (now - timedelta(days=30)).isoformat()},
        headers=fam_a.headers,
    )
    assert too_long.status_code == 422
    backwards = client.get(
        f"/residents/{rid_a}/vitals/history",
        params={"start": now.isoformat(), "end": start},
        headers=fam_a.headers,
    )
    assert backwards.status_code == 422
    naive = client.get(
        f"/residents/{rid_a}/vitals/history",
        params={"start": "2026-11-30T10:00:00"},
        headers=fam_a.headers,
    )
    assert naive.status_code == 422


RAW_HISTORY = """
SELECT time_bucket(%(bucket)s, s.t) AS t,
       avg(s.hr)::float8 AS hr_avg, min(s.hr) AS hr_min, max(s.hr) AS hr_max,
       max(s.sbp) AS sbp_max, max(s.dbp) AS dbp_max,
       avg(s.sbp)::float8 AS sbp_avg, avg(s.dbp)::float8 AS dbp_avg,
       max(s.steps) AS steps, count(*)::int AS samples
FROM telemetry_samples s JOIN devices d USING (device_id)
WHERE d.resident_id = %(rid)s AND s.t >= %(start)s AND s.t < %(end)s
  AND s.t >= coalesce(d.bound_at, '-infinity') AND s.worn IS NOT false
GROUP BY 1 ORDER BY 1"""


def test_history_read_from_roll_ups_has_the_figures_of_the_raw_samples(
    client, family_world, bind_band, db, database_url
) -> None:
    """Whole minutes come from the roll-ups, late samples not yet rolled up and the minutes
    cut by the range or by the band's binding from raw samples: same figures either way."""
    rid, fam = family_world["res_a"], family_world["fam_a"]
    device_id = bind_band(rid)
    rng = random.Random(38)
    now = datetime.now(UTC)
    db.execute(  # bound mid-minute, with samples of the previous wearer before it
        "UPDATE devices SET bound_at = %s WHERE device_id = %s",
        (now - timedelta(hours=5, seconds=17.5), device_id),
    )
    start = now - timedelta(hours=6)
    insert_samples(db, generated([device_id], start, 360, rng))
    roll_up_all(database_url)
    late = generated([device_id], start, 360, rng)
    insert_samples(db, late[::3])  # stored after the roll-up: read raw
    assert (
        db.execute(
            "SELECT count(*) FROM telemetry_minute WHERE device_id = %s", (device_id,)
        ).fetchone()[0]
        > 150
    )

    a_sample_at = db.execute(
        """SELECT max(t) FROM telemetry_samples
           WHERE device_id = %s AND worn AND t < %s""",
        (device_id, now - timedelta(hours=1)),
    ).fetchone()[0]
    for span, end in (
        (timedelta(hours=6), now),
        (timedelta(hours=2, seconds=31.25), now - timedelta(minutes=47, seconds=3.5)),
        (timedelta(minutes=3), now - timedelta(hours=5)),
        (timedelta(seconds=20), a_sample_at + timedelta(seconds=7.5)),
    ):
        response = client.get(
            f"/residents/{rid}/vitals/history",
            params={"start": (end - span).isoformat(), "end": end.isoformat()},
            headers=fam.headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        expected = db.execute(
            RAW_HISTORY,
            {
                "bucket": timedelta(seconds=body["bucket_s"]),
                "rid": rid,
                "start": end - span,
                "end": end,
            },
        ).fetchall()
        assert body["items"], span
        assert [as_row(item) for item in body["items"]] == [tuple(r) for r in expected]


def as_row(item: dict) -> tuple:
    keys = ("t", "hr_avg", "hr_min", "hr_max", "sbp_max", "dbp_max", "sbp_avg", "dbp_avg")
    values = [datetime.fromisoformat(item["t"]), *(item[k] for k in keys[1:])]
    return (*values, item["steps"], item["samples"])
