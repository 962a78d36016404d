"""The daily check list: each reason from generated history with a known answer, none for a
healthy resident, explained in Chinese with its figures; calls and visits; access rules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.requests.opening import open_request
from simulators.history import Plan, copy_samples, samples
from tests.api.care_support import NOW, ZONE, new_grid, resident_with_band, roll_up_care

DAYS = 30  # day 29 is today, 28 yesterday
HOME = (41.80, 123.40)
PEOPLE = (
    "healthy", "silent", "unworn", "low_steps", "wanderer", "drifter", "drifter_alerted",
    "alerty", "unreached", "outsider",
)  # fmt: skip


def _alert(db: psycopg.Connection, rid: int, imei: str, rule: str, severity: int, at: datetime):
    db.execute(
        """INSERT INTO alerts (subject_key, resident_id, device_id, rule, severity, priority,
               status, title, first_seen_at, last_seen_at, opened_at, resolved_at, policy_id,
               policy_steps, updated_at)
           VALUES (%s, %s, %s, %s, %s, 4, 'resolved', %s, %s, %s, %s, %s, 'standard', '[]', %s)""",
        (f"resident:{rid}", rid, imei, rule, severity, rule, at, at, at, at, at),
    )


def _night_fixes(db: psycopg.Connection, imei: str, km_north: float) -> None:
    """Fixes at 23:00 yesterday and 01:00, 02:00 today (local), `km_north` from home."""
    lat = HOME[0] + km_north / 111.2
    for at in (datetime(2026, 11, 19, 23, 0), datetime(2026, 11, 20, 1, 0),
               datetime(2026, 11, 20, 2, 0)):  # fmt: skip
        db.execute(
            """INSERT INTO location_fixes (device_id, t, lat, lon, acc_m, src, received_at)
               VALUES (%s, %s, %s, %s, 20, 'gnss', %s)""",
            (imei, at.replace(tzinfo=ZONE), lat, HOME[1], at.replace(tzinfo=ZONE)),
        )


@pytest.fixture(scope="module")
def world(database_url: str, api_settings) -> dict:
    """Grid A with one resident per reason (and a healthy one); grid B with an outsider."""
    rng = np.random.default_rng(13)
    with psycopg.connect(database_url, autocommit=True) as db:
        grid_a, grid_b = new_grid(db), new_grid(db)
        made = {
            name: resident_with_band(db, grid_b if name == "outsider" else grid_a, name, HOME)
            for name in PEOPLE
        }
        names = list(PEOPLE)
        plan = Plan.healthy(len(names), DAYS, rng)
        until = np.full(len(names), (NOW - timedelta(minutes=10)).timestamp())
        for name in ("silent", "outsider"):
            until[names.index(name)] = (NOW - timedelta(hours=20)).timestamp()
        plan.worn_fraction[names.index("unworn"), 28] = 0.3
        plan.steps[names.index("low_steps"), 26:29] = 1500
        plan.hr[names.index("drifter"), 26:29] = 92
        plan.hr[names.index("drifter_alerted"), 26:29] = 92
        history = samples(
            [made[n][1] for n in names],
            plan,
            first_day=(NOW.astimezone(ZONE) - timedelta(days=DAYS - 1)).date(),
            zone=ZONE,
            interval_s=1800,
            until=until,
            rng=rng,
        )
        copy_samples(db, history)
        _night_fixes(db, made["healthy"][1], km_north=0.05)
        _night_fixes(db, made["wanderer"][1], km_north=1.2)
        rid, imei = made["drifter_alerted"]
        _alert(db, rid, imei, "baseline_deviation", 2, NOW - timedelta(days=1))
        rid, imei = made["alerty"]
        for day in range(6):
            _alert(db, rid, imei, f"rule_{day}", 1, NOW - timedelta(days=day, hours=1))
    # The rollup state is this module's: start from nothing, as `eldercare jobs` would.
    roll_up_care(api_settings, NOW, from_scratch=True)
    return {"grid_a": grid_a, "grid_b": grid_b, **{n: made[n][0] for n in names}}


@pytest.fixture(scope="module")
def care_client(api_settings) -> Iterator[TestClient]:
    app = create_app(api_settings, clock=lambda: NOW)
    with TestClient(app) as test_client:
        yield test_client


def _daily(client: TestClient, actor, **params) -> dict:
    response = client.get("/care/daily", headers=actor.headers, params=params)
    assert response.status_code == 200, response.text
    return {item["resident_id"]: item for item in response.json()["items"]}


def _codes(item: dict) -> list[str]:
    return [r["code"] for r in item["reasons"]]


@pytest.fixture
def worker_a(world, make_actor):
    return make_actor("grid_worker", (world["grid_a"],))


def test_a_healthy_resident_is_not_on_the_list(care_client, world, worker_a):
    assert world["healthy"] not in _daily(care_client, worker_a)


def test_the_list_says_up_to_when_band_data_is_in_it(care_client, world, worker_a):
    """The rollup job ran at 10:00 and leaves the last minute for commits still under way."""
    response = care_client.get("/care/daily", headers=worker_a.headers)
    assert response.json()["data_until_local"] == "2026-11-20 09:59"


@pytest.mark.parametrize(
    ("person", "code", "words"),
    [
        ("silent", "no_data", "已有 20 小时没有收到手环数据"),
        ("unworn", "not_worn", "昨天手环只在"),
        ("low_steps", "low_steps", "近 3 天平均每天 1500 步，平时约"),
        ("wanderer", "night_out", "昨夜（22:00—06:00）有 3 次定位在家外，最远离家约 1200 米"),
        ("drifter", "vitals_drift", "近几天平均心率 92 次/分，平时约 72 次/分（未触发告警）"),
        ("alerty", "low_alerts", "近 7 天已有 6 条低级别告警"),
    ],
)
def test_each_reason_is_found_with_its_figures_in_chinese(
    care_client, world, worker_a, person, code, words
):
    item = _daily(care_client, worker_a)[world[person]]
    assert _codes(item) == [code]
    assert words in item["reasons"][0]["text"]


def test_not_worn_names_the_share_of_yesterday_it_was_worn(care_client, world, worker_a):
    (reason,) = _daily(care_client, worker_a)[world["unworn"]]["reasons"]
    assert 10 <= reason["figures"]["worn_pct"] < 50


def test_a_drift_already_alerted_is_not_a_reason_again(care_client, world, worker_a):
    assert world["drifter_alerted"] not in _daily(care_client, worker_a)


def test_reasons_are_in_english_for_an_english_browser(care_client, world, worker_a):
    response = care_client.get(
        "/care/daily", headers={**worker_a.headers, "Accept-Language": "en-GB,en;q=0.9"}
    )
    item = next(i for i in response.json()["items"] if i["resident_id"] == world["silent"])
    assert item["reasons"][0]["text"] == "No data from the band for 20 hours"


def test_two_unanswered_calls_send_the_resident_to_the_grid_worker(care_client, world, worker_a):
    rid = world["unreached"]
    assert rid not in _daily(care_client, worker_a)
    for kind in ("call", "visit"):
        response = care_client.post(
            f"/care/residents/{rid}/contacts",
            json={"kind": kind, "outcome": "not_reached"},
            headers=worker_a.headers,
        )
        assert response.status_code == 201, response.text
    item = _daily(care_client, worker_a, handler="grid_worker")[rid]
    assert item["handler"] == "grid_worker"
    assert item["reasons"][0]["text"] == "已连续 2 次电话或上门未联系上，请网格员上门"
    reached = {"kind": "call", "outcome": "reached"}
    care_client.post(f"/care/residents/{rid}/contacts", json=reached, headers=worker_a.headers)
    assert rid not in _daily(care_client, worker_a)


def test_a_resident_reached_today_stays_listed_but_marked_done(care_client, world, worker_a):
    rid = world["low_steps"]
    care_client.post(
        f"/care/residents/{rid}/contacts",
        json={"kind": "visit", "outcome": "reached", "note": "感冒了，在家休息"},
        headers=worker_a.headers,
    )
    item = _daily(care_client, worker_a)[rid]
    assert item["done_today"] is True
    assert item["last_contact_local"] == "2026-11-20 10:00"


def test_a_grid_worker_sees_only_their_grid(care_client, world, worker_a, make_actor, db):
    listed = _daily(care_client, worker_a)
    assert world["outsider"] not in listed
    worker_b = make_actor("grid_worker", (world["grid_b"],))
    assert set(_daily(care_client, worker_b)) == {world["outsider"]}
    response = care_client.post(
        f"/care/residents/{world['outsider']}/contacts",
        json={"kind": "call", "outcome": "reached"},
        headers=worker_a.headers,
    )
    assert response.status_code == 404
    response = care_client.get(
        f"/care/residents/{world['outsider']}/contacts", headers=worker_a.headers
    )
    assert response.status_code == 404


def test_family_and_volunteers_have_no_daily_list(care_client, make_actor):
    for role in ("family", "volunteer"):
        response = care_client.get("/care/daily", headers=make_actor(role).headers)
        assert response.status_code == 403


def test_every_resident_shown_is_audited(care_client, world, worker_a, db):
    listed = _daily(care_client, worker_a)
    audited = {
        row[0]
        for row in db.execute(
            "SELECT resident_id FROM audit_log WHERE account_id = %s AND action = 'care.daily'",
            (worker_a.account_id,),
        )
    }
    assert audited == set(listed)


def test_late_data_for_yesterday_is_seen_when_the_day_is_rolled_up_again(world):
    from api.care.rollup import stale_days

    yesterday = NOW.astimezone(ZONE).date() - timedelta(days=1)
    refreshed = {yesterday: NOW - timedelta(hours=9)}  # rolled up at 01:00, before the grace end
    assert yesterday in stale_days(refreshed, today=yesterday + timedelta(days=1), days=2,
                                   now=NOW, zone=ZONE)  # fmt: skip
    refreshed = {yesterday: NOW - timedelta(hours=7)}  # 03:00: after midnight + 2 h: final
    assert yesterday not in stale_days(refreshed, today=yesterday + timedelta(days=1), days=2,
                                       now=NOW, zone=ZONE)  # fmt: skip


def test_a_request_waiting_for_its_first_answer_is_a_reason_to_call(
    care_client, world, worker_a, database_url
):
    """Unanswered for 30 h: listed with its figures; answered or only 2 h old: not counted."""
    rid = world["alerty"]
    opened = [(NOW - timedelta(hours=30), None), (NOW - timedelta(hours=2), None),
              (NOW - timedelta(hours=40), NOW - timedelta(hours=39))]  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as db:
        ids = []
        for at, replied in opened:
            request_id = open_request(
                db, text="暖气不热", category="heating", channel="hotline", now=at, resident_id=rid
            )
            db.execute(
                "UPDATE requests SET first_reply_at = %s WHERE request_id = %s",
                (replied, request_id),
            )
            ids.append(request_id)
        try:
            item = _daily(care_client, worker_a)[rid]
            (reason,) = [r for r in item["reasons"] if r["code"] == "unanswered_request"]
            assert reason["figures"] == {"count": 1, "hours": 30}
            assert reason["text"] == "有 1 条诉求尚未答复，最早一条已等 30 小时"
        finally:
            db.execute("DELETE FROM requests WHERE request_id = ANY(%s)", (ids,))
    assert "unanswered_request" not in _codes(_daily(care_client, worker_a)[rid])


def test_a_resident_without_a_phone_number_is_listed_not_a_500(
    care_client, world, worker_a, database_url
):
    """Found by the API fuzzer: a missing phone number (NULL) broke the whole list."""
    rid = world["silent"]
    with psycopg.connect(database_url, autocommit=True) as db:
        (phone,) = db.execute(
            "SELECT phone FROM residents WHERE resident_id = %s", (rid,)
        ).fetchone()
        db.execute("UPDATE residents SET phone = NULL WHERE resident_id = %s", (rid,))
        try:
            assert _daily(care_client, worker_a)[rid]["phone"] is None
        finally:
            db.execute("UPDATE residents SET phone = %s WHERE resident_id = %s", (phone, rid))


def _care_day(db: psycopg.Connection, rid: int, day: date) -> tuple | None:
    return db.execute(
        """SELECT samples, night_out_fixes FROM care_days WHERE resident_id = %s AND day = %s""",
        (rid, day),
    ).fetchone()


def test_data_stored_since_the_last_rollup_reaches_the_list_after_the_job_runs(
    care_client, world, make_actor, api_settings, db
):
    """A band back online at 10:05 uploads last night's fixes (one from yesterday 23:00) and
    a sample: the list shows them only once the job ran, on the days they belong to."""
    grid = new_grid(db)
    rid, imei = resident_with_band(db, grid, "晚归的老人", HOME)
    worker = make_actor("grid_worker", (grid,))
    uploaded = NOW + timedelta(minutes=5)
    db.execute(
        """INSERT INTO telemetry_samples (device_id, t, hr, steps, worn, received_at)
           VALUES (%s, %s, 70, 300, true, %s)""",
        (imei, NOW - timedelta(minutes=2), uploaded),
    )
    lat = HOME[0] + 2.0 / 111.2
    for at in (datetime(2026, 11, 19, 23, 0), datetime(2026, 11, 20, 1, 0),
               datetime(2026, 11, 20, 2, 0)):  # fmt: skip
        db.execute(
            """INSERT INTO location_fixes (device_id, t, lat, lon, acc_m, src, received_at)
               VALUES (%s, %s, %s, %s, 20, 'gnss', %s)""",
            (imei, at.replace(tzinfo=ZONE), lat, HOME[1], uploaded),
        )
    assert _codes(_daily(care_client, worker)[rid]) == ["no_data"]  # not rolled up yet

    roll_up_care(api_settings, NOW + timedelta(minutes=10))

    (reason,) = _daily(care_client, worker)[rid]["reasons"]
    assert reason["code"] == "night_out" and reason["figures"]["fixes"] == 3
    assert "有 3 次定位在家外，最远离家约 2000 米" in reason["text"]
    today = NOW.astimezone(ZONE).date()
    assert _care_day(db, rid, today - timedelta(days=1)) == (0, 1)  # the late row: yesterday
    assert _care_day(db, rid, today) == (1, 2)


def test_rollups_kept_run_by_run_equal_a_rollup_from_scratch(world, api_settings, db):
    """Sums merged run by run (late rows included) are what rolling up every day anew gives."""
    later = NOW + timedelta(minutes=20)
    (imei,) = db.execute(
        "SELECT device_id FROM devices WHERE resident_id = %s", (world["drifter"],)
    ).fetchone()
    db.execute(  # a late sample for yesterday noon, stored after the last run
        """INSERT INTO telemetry_samples (device_id, t, hr, sbp, steps, worn, received_at)
           VALUES (%s, %s, 130, 150, 99999, false, %s)""",
        (imei, datetime(2026, 11, 19, 12, 0, 30, tzinfo=ZONE), NOW + timedelta(minutes=15)),
    )
    roll_up_care(api_settings, later)
    columns = """resident_id, day, samples, worn_known, worn_samples, steps, hr_sum, hr_n,
                 sbp_sum, sbp_n, last_t, night_fixes, night_out_fixes, night_max_m, packed"""
    query = f"SELECT {columns} FROM care_days ORDER BY resident_id, day"
    kept = db.execute(query).fetchall()
    roll_up_care(api_settings, later, from_scratch=True)
    assert len(kept) >= 10 * DAYS and any(row[5] == 99999 for row in kept)
    assert db.execute(query).fetchall() == kept


def test_a_row_committed_behind_the_watermark_counts_once_its_day_has_closed(
    world, api_settings, db
):
    """A batch committed later than its `received_at` plus the lag is missed by the runs
    that follow, and settled by the whole-day rollup after midnight plus the grace."""
    rid, imei = resident_with_band(db, new_grid(db), "慢一步的数据", HOME)
    roll_up_care(api_settings, NOW + timedelta(minutes=30))
    db.execute(
        """INSERT INTO telemetry_samples (device_id, t, hr, steps, worn, received_at)
           VALUES (%s, %s, 70, 100, true, %s)""",
        (imei, NOW - timedelta(hours=1), NOW),  # received at 10:00, committed after 10:29
    )
    today = NOW.astimezone(ZONE).date()
    roll_up_care(api_settings, NOW + timedelta(minutes=35))
    assert _care_day(db, rid, today) is None
    closed = datetime.combine(today + timedelta(days=1), datetime.min.time(), ZONE)
    roll_up_care(api_settings, closed + timedelta(hours=2, minutes=5))
    assert _care_day(db, rid, today) == (1, 0)
