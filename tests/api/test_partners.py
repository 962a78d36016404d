"""The resource list: partners and offers with opening times, capacity and discount; a
booking names its partner; staff record quality; a monthly summary per partner."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.requests.opening import open_request
from tests.api.care_support import NOW


@pytest.fixture(scope="module")
def partner_client(api_settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, clock=lambda: NOW)) as client:
        yield client


def test_a_partner_serves_a_booking_and_its_month_is_summarised(partner_client, family_world, db):
    c, w = partner_client, family_world
    name = f"幸福家政服务站-{uuid.uuid4().hex[:6]}"
    offer = {"title": "上门保洁", "category": "household", "discount_pct": 20,
             "opening_hours": "周一至周六 08:00-18:00", "capacity_per_week": 7}  # fmt: skip
    made = c.post("/partners", json={"name": name, "kind": "service_station", "offers": [offer]},
                  headers=w["duty"].headers)  # fmt: skip
    assert made.status_code == 201, made.text
    pid, oid = made.json()["partner_id"], made.json()["offers"][0]["offer_id"]
    listed = c.get("/partners?category=household", headers=w["fam_a"].headers).json()
    (mine,) = [p for p in listed if p["partner_id"] == pid]
    assert mine["offers"][0]["discount_pct"] == 20
    assert mine["offers"][0]["opening_hours"] == "周一至周六 08:00-18:00"
    assert c.post("/partners", json={"name": "x", "kind": "other"},
                  headers=w["worker_a"].headers).status_code == 403  # fmt: skip

    booking = db.execute(
        """INSERT INTO bookings (resident_id, service, source, requested_at)
           VALUES (%s, 'housekeeping', 'staff', %s) RETURNING booking_id""",
        (w["res_a"], NOW),
    ).fetchone()[0]
    link = {"partner_id": pid, "offer_id": oid}
    path = f"/partners/bookings/{booking}"
    assert c.put(path, json=link, headers=w["worker_b"].headers).status_code == 404
    assert c.put(path, json=link, headers=w["worker_a"].headers).status_code == 200
    for rating in (4, 5):
        review = {"rating": rating, "booking_id": booking, "note": "准时，干净"}
        made = c.post(f"/partners/{pid}/reviews", json=review, headers=w["worker_a"].headers)
        assert made.status_code == 201
    summary = c.get(f"/partners/{pid}/summary?month=2026-11", headers=w["duty"].headers).json()
    assert (summary["bookings"], summary["capacity"], summary["capacity_used_pct"]) == (1, 30, 3.3)
    assert (summary["reviews"], summary["mean_rating"]) == (2, 4.5)
    assert summary["text"] == (
        f"{name} 2026-11：预约 1 次，完成 0 次，取消 0 次；"
        "容量使用 3.3%；服务评价 2 条，平均 4.5 分"
    )
    bad = c.get(f"/partners/{pid}/summary?month=2026-13", headers=w["duty"].headers)
    assert bad.status_code == 422


def test_a_request_names_the_partner_that_serves_it(partner_client, family_world, db):
    c, w = partner_client, family_world
    made = c.post(
        "/partners",
        json={"name": f"社区医院-{uuid.uuid4().hex[:6]}", "kind": "hospital",
              "offers": [{"title": "上门巡诊", "category": "clinic"}]},
        headers=w["duty"].headers,
    ).json()  # fmt: skip
    pid, oid = made["partner_id"], made["offers"][0]["offer_id"]
    request_id = open_request(
        db, text="想请医生上门看看", category="living_help", channel="hotline", now=NOW,
        resident_id=w["res_a"],
    )  # fmt: skip
    path = f"/partners/requests/{request_id}"
    link = {"partner_id": pid, "offer_id": oid}
    assert c.put(path, json=link, headers=w["worker_b"].headers).status_code == 404
    assert c.put(path, json=link, headers=w["fam_a"].headers).status_code == 403
    assert c.put("/partners/requests/999999999", json=link,
                 headers=w["duty"].headers).status_code == 404  # fmt: skip
    unknown = {"partner_id": 999999999}
    assert c.put(path, json=unknown, headers=w["worker_a"].headers).status_code == 404
    done = c.put(path, json=link, headers=w["worker_a"].headers)
    assert done.status_code == 200, done.text
    row = db.execute(
        "SELECT partner_id, offer_id, linked_by FROM request_partners WHERE request_id = %s",
        (request_id,),
    ).fetchone()
    assert row == (pid, oid, w["worker_a"].account_id)
