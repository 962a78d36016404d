"""Early warnings: a rise injected into a generated season is found within 3 days, a year
without one raises nothing; a rising grid pages the community director once, explained."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.care.warnings import HISTORY_DAYS, check_last_days, subject_of
from api.jobs import Jobs
from api.requests.opening import open_request
from tests.api.care_support import NOW, ZONE, new_grid, resident_with_band
from tests.support.wait import wait_until

YEAR = 365


def _season(rng: np.random.Generator, level: float, days: int) -> np.ndarray:
    """Daily counts with a winter peak (±40 %) and weekday rhythm, negative-binomial noise."""
    t = np.arange(days)
    mean = level * (1 + 0.4 * np.cos(2 * np.pi * t / YEAR)) * (1 + 0.1 * (t % 7 < 2))
    size = 20.0  # mild overdispersion
    return rng.negative_binomial(size, size / (size + mean))


def _warnings_by_day(counts: np.ndarray) -> np.ndarray:
    """The test run on every day that has a full history, as production runs it daily."""
    windows = np.lib.stride_tricks.sliding_window_view(counts, HISTORY_DAYS)
    return check_last_days(windows).warn


@pytest.mark.parametrize("level", [1.0, 4.0, 15.0])
def test_a_simulated_year_without_a_rise_raises_no_warning(level):
    for seed in range(30):
        counts = _season(np.random.default_rng(seed), level, YEAR + HISTORY_DAYS)
        assert not _warnings_by_day(counts).any(), f"seed {seed}"


@pytest.mark.parametrize(("level", "factor"), [(15.0, 3), (4.0, 5)])
def test_a_rise_at_the_start_of_the_heating_season_is_found_within_three_days(level, factor):
    """Found by the third day of the rise in at least 29 of 30 generated seasons."""
    found = 0
    onset = 300  # the first cold week
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        counts = _season(rng, level, YEAR)
        counts[onset:] += rng.poisson((factor - 1) * level, YEAR - onset)
        before = _warnings_by_day(counts[:onset])
        assert not before.any(), f"seed {seed}: warned before the rise"
        found += bool(_warnings_by_day(counts[: onset + 3])[-3:].any())
    assert found >= 29


def _falls(db: psycopg.Connection, rid: int, imei: str, per_day: list[int]) -> None:
    """Fall alerts opened on the days before NOW's day: per_day[-1] is yesterday."""
    today = NOW.astimezone(ZONE).replace(hour=12, minute=0)
    for back, n in enumerate(reversed(per_day), start=1):
        at = today - timedelta(days=back)
        for _ in range(n):
            db.execute(
                """INSERT INTO alerts (subject_key, resident_id, device_id, rule, severity,
                       priority, status, title, first_seen_at, last_seen_at, opened_at,
                       resolved_at, policy_id, policy_steps, updated_at)
                   VALUES (%s, %s, %s, 'fall', 4, 1, 'resolved', 'fall', %s, %s, %s, %s,
                           'immediate', '[]', %s)""",
                (f"resident:{rid}", rid, imei, at, at, at, at, at),
            )


@pytest.fixture(scope="module")
def world(database_url: str) -> dict:
    """Grid A: about one fall a day for five weeks, then 6 a day for three days; grid B quiet."""
    rng = np.random.default_rng(7)
    with psycopg.connect(database_url, autocommit=True) as db:
        grid_a, grid_b = new_grid(db), new_grid(db)
        rid, imei = resident_with_band(db, grid_a, "楼里的老人", (41.8, 123.4))
        _falls(db, rid, imei, [*rng.poisson(1.0, HISTORY_DAYS - 3).tolist(), 6, 7, 6])
    return {"grid_a": grid_a, "grid_b": grid_b}


@pytest.fixture(scope="module")
def care_client(api_settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, clock=lambda: NOW)) as client:
        yield client


def _director_pages(db: psycopg.Connection, alert_id: int) -> int:
    return db.execute(
        """SELECT count(*) FROM outbox
           WHERE alert_id = %s AND channel = 'community_gateway'
             AND payload->>'target' = 'community_director'""",
        (alert_id,),
    ).fetchone()[0]


def test_a_rising_grid_pages_the_director_once_with_the_data(care_client, world, make_actor, db):
    duty = make_actor("duty_staff")
    response = care_client.post("/care/warnings/check", headers=duty.headers)
    assert response.status_code == 200, response.text
    raised = {
        w["details"]["grid_id"]: w for w in response.json() if w["details"]["category"] == "fall"
    }
    assert world["grid_a"] in raised and world["grid_b"] not in raised
    warning = raised[world["grid_a"]]
    assert warning["details"]["observed"] == 19
    assert warning["details"]["counts"][-3:] == [6, 7, 6]
    assert warning["title"].startswith("预警：") and "“fall”类告警明显增多" in warning["title"]
    assert "近 3 天共 19 起，按此前 28 天的水平预计约" in warning["explanation"]
    assert _director_pages(db, warning["alert_id"]) == 1
    care_client.post("/care/warnings/check", headers=duty.headers)
    assert _director_pages(db, warning["alert_id"]) == 1


def test_a_director_sees_their_grids_and_the_communitys_warnings_only(
    care_client, world, make_actor
):
    duty = make_actor("duty_staff")
    care_client.post("/care/warnings/check", headers=duty.headers)
    director_a = make_actor("community_director", (world["grid_a"],))
    director_b = make_actor("community_director", (world["grid_b"],))
    seen_a = {
        w["details"]["grid_id"]
        for w in care_client.get("/care/warnings", headers=director_a.headers).json()
    }
    seen_b = {
        w["details"]["grid_id"]
        for w in care_client.get("/care/warnings", headers=director_b.headers).json()
    }
    assert world["grid_a"] in seen_a and world["grid_a"] not in seen_b
    assert None in seen_b  # the community-wide warning
    assert care_client.post("/care/warnings/check", headers=director_a.headers).status_code == 403
    assert (
        care_client.get("/care/warnings", headers=make_actor("family").headers).status_code == 403
    )


def test_eldercare_jobs_pages_the_director_without_anyone_running_the_check(
    world, api_settings, db
):
    """The check runs in `eldercare jobs` on its own: a new rising grid reaches the director."""
    rng = np.random.default_rng(11)
    grid = new_grid(db)
    rid, imei = resident_with_band(db, grid, "另一栋楼的老人", (41.8, 123.4))
    _falls(db, rid, imei, [*rng.poisson(1.0, HISTORY_DAYS - 3).tolist(), 7, 6, 7])
    open_warning = """SELECT alert_id FROM alerts WHERE rule = 'early_warning'
                      AND subject_key = %s AND status = 'open'"""

    def warning_id() -> int | None:
        row = db.execute(open_warning, (subject_of(grid, "fall"),)).fetchone()
        return None if row is None else row[0]

    assert warning_id() is None
    jobs = Jobs(api_settings, clock=lambda: NOW)
    jobs.start(only={"care-warnings"})
    try:
        alert_id = wait_until(warning_id, timeout_s=60)
        wait_until(lambda: _director_pages(db, alert_id) == 1, timeout_s=60)
    finally:
        jobs.stop()


def test_heating_complaints_rising_in_a_grid_page_the_director_as_requests(
    care_client, make_actor, db
):
    """The first cold days: heating requests from one grid jump from about 1 a day to 6."""
    rng = np.random.default_rng(5)
    grid = new_grid(db)
    rid, _ = resident_with_band(db, grid, "怕冷的老人", (41.8, 123.4))
    today = NOW.astimezone(ZONE).replace(hour=9, minute=0)
    per_day = [*rng.poisson(1.0, HISTORY_DAYS - 3).tolist(), 6, 7, 6]
    for back, n in enumerate(reversed(per_day), start=1):
        for _ in range(n):
            open_request(db, text="暖气不热", category="heating", channel="hotline",
                         now=today - timedelta(days=back), resident_id=rid)  # fmt: skip
    response = care_client.post("/care/warnings/check", headers=make_actor("duty_staff").headers)
    assert response.status_code == 200, response.text
    (warning,) = [w for w in response.json() if w["details"]["grid_id"] == grid]
    assert warning["details"]["category"] == "request:heating"
    assert warning["details"]["counts"][-3:] == [6, 7, 6]
    assert warning["title"].endswith("网格“供暖”类诉求明显增多")
    assert _director_pages(db, warning["alert_id"]) == 1
