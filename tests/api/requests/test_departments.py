"""A request summons several departments at once, each with its own deadline; each
acknowledges and reports through its own login; the one past its deadline is listed."""

from __future__ import annotations

from datetime import timedelta

from tests.api.requests.world import T0, open_as_family, timeline


def department_actor(make_actor, db, code: str):
    actor = make_actor("department_staff")
    db.execute(
        """INSERT INTO account_departments (account_id, department_id)
           SELECT %s, department_id FROM departments WHERE code = %s""",
        (actor.account_id, code),
    )
    return actor


def test_multi_department_request_lists_the_one_department_past_its_deadline(
    api, world, clock, make_actor, db
):
    w = world
    request_id = open_as_family(api, w, text="小区门口占道经营，晚上还很吵")["request_id"]
    property_staff = department_actor(make_actor, db, "property")
    city_staff = department_actor(make_actor, db, "city_management")
    police_staff = department_actor(make_actor, db, "police")
    # Before being summoned, no department sees the request.
    assert api.get(f"/requests/{request_id}", headers=city_staff.headers).status_code == 404
    summon = {
        "departments": [
            {"code": "property", "due_hours": 4},
            {"code": "city_management", "due_hours": 2},
        ]
    }
    assert (
        api.post(f"/requests/{request_id}/departments", json=summon, headers=w["fam_a"].headers)
    ).status_code == 403
    r = api.post(f"/requests/{request_id}/departments", json=summon, headers=w["worker_a"].headers)
    assert r.status_code == 201, r.text
    assert {d["code"]: d["due_at"][:16] for d in r.json()} == {
        "city_management": "2026-11-23T03:00",
        "property": "2026-11-23T05:00",
    }
    pages = db.execute(
        "SELECT payload->>'department' FROM outbox WHERE request_id = %s AND payload ? 'department'"
        " ORDER BY 1",
        (request_id,),
    ).fetchall()
    assert pages == [("city_management",), ("property",)]

    clock.now = T0 + timedelta(minutes=30)
    ack = f"/requests/{request_id}/departments/property/acknowledge"
    assert api.post(ack, headers=property_staff.headers).status_code == 200
    assert api.post(ack, headers=property_staff.headers).status_code == 409
    # Another department's staff cannot act for the property company, nor see the request.
    assert api.post(ack, headers=city_staff.headers).status_code == 403
    assert api.get(f"/requests/{request_id}", headers=police_staff.headers).status_code == 404
    clock.now = T0 + timedelta(hours=1, minutes=30)
    report = {"text": "已清理占道摊位，并告知商户夜间经营时间。"}
    r = api.post(
        f"/requests/{request_id}/departments/property/report",
        json=report,
        headers=property_staff.headers,
    )
    assert r.status_code == 200, r.text
    clock.now = T0 + timedelta(hours=1, minutes=59)
    assert api.get("/departments/overdue", headers=w["director_a"].headers).json() == []
    clock.now = T0 + timedelta(hours=3)
    late = api.get("/departments/overdue", headers=w["director_a"].headers).json()
    assert [(d["number"], d["code"]) for d in late] == [
        (
            api.get(f"/requests/{request_id}", headers=w["worker_a"].headers).json()["number"],
            "city_management",
        )
    ]
    assert api.get("/departments/overdue", headers=w["director_b"].headers).json() == []
    assert [
        d["code"] for d in api.get("/departments/overdue", headers=city_staff.headers).json()
    ] == ["city_management"]
    # The requester sees the departments' reports on the request's progress.
    public = timeline(api, w["fam_a"], request_id)
    reports = [e["data"]["report"] for e in public if e["kind"] == "department_reported"]
    assert reports == [report["text"]]
