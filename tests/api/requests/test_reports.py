"""Assessment figures checked against values computed by hand, as JSON, CSV and on the
public board (which needs no login and shows nobody's personal data)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from tests.api.requests.world import T0, open_as_family


def at(clock, **delta):
    clock.now = T0 + timedelta(**delta)


def test_assessment_figures_match_hand_computed_values(api, world, clock, make_actor, db):
    w = world
    worker, fam = w["worker_a"].headers, w["fam_a"].headers
    # R1: acknowledged at 30 min, public reply at 1 h, resolved at 2 h, rated 5.
    r1 = open_as_family(api, w)["request_id"]
    # R2: acknowledged at 2 h, first public word only at 30 h (resolution), rated 2 (reopened),
    # resolved again at 31 h, rated 4.
    r2 = open_as_family(api, w, text="暖气不热")["request_id"]
    # Departments: property acknowledges R1 30 min after being summoned and reports after
    # 50 min; city management never answers on R3.
    at(clock, minutes=10)
    summon = {"departments": [{"code": "property", "due_hours": 4}]}
    assert api.post(f"/requests/{r1}/departments", json=summon, headers=worker).status_code == 201
    at(clock, minutes=30)
    api.post(f"/requests/{r1}/acknowledge", headers=worker)
    at(clock, minutes=40)
    api.post(f"/requests/{r1}/departments/property/acknowledge", headers=worker)
    at(clock, hours=1)
    r3 = open_as_family(api, w, text="楼下垃圾没人清")["request_id"]  # R3: never answered
    r4 = open_as_family(api, w, text="电梯坏了")["request_id"]  # R4: ack + reply at 10 min
    api.post(f"/requests/{r1}/replies", json={"text": "今天下午处理"}, headers=worker)
    api.post(f"/requests/{r1}/departments/property/report", json={"text": "已修"}, headers=worker)
    summon = {"departments": [{"code": "city_management", "due_hours": 2}]}
    assert api.post(f"/requests/{r3}/departments", json=summon, headers=worker).status_code == 201
    at(clock, hours=1, minutes=10)
    api.post(f"/requests/{r4}/acknowledge", headers=worker)
    api.post(f"/requests/{r4}/replies", json={"text": "已报修"}, headers=worker)
    at(clock, hours=2)
    api.post(f"/requests/{r2}/acknowledge", headers=worker)
    # The heating company is summoned to R2 before its ratings: its figures follow R2's.
    summon = {"departments": [{"code": "heating_company", "due_hours": 48}]}
    assert api.post(f"/requests/{r2}/departments", json=summon, headers=worker).status_code == 201
    api.post(f"/requests/{r1}/resolve", json={"resolution": "已换灯"}, headers=worker)
    api.post(f"/requests/{r1}/rating", json={"score": 5}, headers=fam)
    at(clock, hours=30)
    api.post(f"/requests/{r2}/resolve", json={"resolution": "已放气"}, headers=worker)
    reopened = api.post(f"/requests/{r2}/rating", json={"score": 2}, headers=fam)
    assert reopened.json()["status"] == "open"
    at(clock, hours=31)
    api.post(f"/requests/{r2}/resolve", json={"resolution": "已更换阀门"}, headers=worker)
    api.post(f"/requests/{r2}/rating", json={"score": 4}, headers=fam)
    at(clock, hours=40)

    director = w["director_a"].headers
    q = {"from": "2026-11", "to": "2026-11"}
    by_worker = api.get("/reports/requests", params=q | {"by": "grid_worker"}, headers=director)
    assert by_worker.status_code == 200, by_worker.text
    rows = [r for r in by_worker.json()["rows"] if r["key"] == str(w["worker_a"].account_id)]
    assert len(rows) == 1
    row = rows[0]
    # First responses: R1 1800 s, R2 7200 s, R4 600 s; R3 none.
    # median 1800; p90 = 1800 + 0.8 * (7200 - 1800) = 6120.
    assert row["month"] == "2026-11" and row["name"] == "张网格"
    assert row["requests"] == 4
    assert row["first_response_median_s"] == 1800.0
    assert row["first_response_p90_s"] == 6120.0
    assert row["answered_24h_share"] == 0.5  # R1 and R4
    assert row["resolution_rate"] == 0.5  # R1 and R2
    assert row["reopen_rate"] == 0.25  # R2
    assert row["satisfaction"] == 4.5 and row["rated"] == 2  # latest ratings 5 and 4

    by_grid = api.get("/reports/requests", params=q | {"by": "grid"}, headers=director).json()
    assert [(r["key"], r["requests"]) for r in by_grid["rows"]] == [(str(w["grid_a"]), 4)]
    depts = api.get("/reports/requests", params=q | {"by": "department"}, headers=director).json()
    figures = {r["name"]: r for r in depts["rows"]}
    assert figures["物业公司"]["first_response_median_s"] == 1800.0
    assert figures["物业公司"]["resolution_rate"] == 1.0
    assert figures["城市管理"]["first_response_median_s"] is None
    assert figures["城市管理"]["answered_24h_share"] == 0.0
    # R2 was reopened after its low rating, and its latest rating is 4.
    heating = figures["供热公司"]
    assert (heating["reopen_rate"], heating["satisfaction"], heating["rated"]) == (1.0, 4.0, 1)
    assert (figures["物业公司"]["reopen_rate"], figures["物业公司"]["satisfaction"]) == (0.0, 5.0)
    # The other grid's director sees none of it.
    other = api.get("/reports/requests", params=q | {"by": "grid"}, headers=w["director_b"].headers)
    assert other.json()["rows"] == []
    assert api.get("/reports/requests", params=q | {"by": "grid"}, headers=fam).status_code == 403

    as_csv = api.get(
        "/reports/requests", params=q | {"by": "grid_worker", "format": "csv"}, headers=director
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.text.lstrip("\ufeff"))))
    mine = [r for r in parsed if r["key"] == str(w["worker_a"].account_id)]
    assert mine[0]["first_response_p90_s"] == "6120.0" and mine[0]["satisfaction"] == "4.5"


def test_public_board_needs_no_login_and_shows_no_personal_data(api, world, clock):
    w = world
    open_as_family(api, w, text="暖气不热，家里只有十四度")
    r = api.get("/board/requests", params={"month": "2026-11"})
    assert r.status_code == 200
    heating = next(c for c in r.json()["categories"] if c["category"] == "heating")
    assert heating["name"]["zh_CN"] == "供暖" and heating["requests"] >= 1
    body = r.text
    for personal in ("Resident A", "张网格", "十四度"):
        assert personal not in body
    shown = {
        "category",
        "name",
        "requests",
        "first_response_median_s",
        "answered_24h_share",
        "resolution_rate",
        "reopen_rate",
        "satisfaction",
        "rated",
    }
    assert all(set(c) == shown for c in r.json()["categories"])
    page = api.get("/board")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert api.get("/board/requests", params={"month": "2026-13"}).status_code == 422


def test_a_month_the_calendar_lacks_is_a_clear_422_not_a_500(api, world):
    """Found by the OpenAPI fuzzer: year 0000 was a 500."""
    for url in ("/board/requests?month=0000-01", "/board/requests?month=2026-13"):
        assert api.get(url).status_code == 422
