"""Residents' requests: opened through the API, dispatched on the alerts' escalation ladder
with a fixed clock, the 24 h first-answer promise, access rules, ratings and reopening."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import psycopg

from alerting import request_ladder
from api.requests.band_requests import open_from_band_events
from tests.api.requests.world import T0, notified, open_as_family, timeline


def test_resident_request_gets_a_number_and_its_grid_worker_is_notified_at_once(api, world, db):
    w = world
    opened = open_as_family(api, w)
    assert re.fullmatch(r"2026-\d{6}", opened["number"])
    assert opened["category"] == "facilities"  # the staff's keyword rule 楼道灯
    assert opened["grid_id"] == w["grid_a"]
    entries = timeline(api, w["worker_a"], opened["request_id"])
    step = next(e for e in entries if e["kind"] == "queued")
    assert step["data"]["targets"] == ["grid_worker"]
    assert step["at"].startswith("2026-11-23T01:00")
    assert [p["full_name"] for p in step["data"]["responsible"]] == ["张网格"]
    page = db.execute(
        "SELECT channel, payload FROM outbox WHERE request_id = %s", (opened["request_id"],)
    ).fetchone()
    assert page[0] == "community_gateway"
    assert page[1]["recipients"] == [w["worker_a"].account_id]
    assert opened["number"] in page[1]["message"]["zh_CN"]
    assert "设施维修" in page[1]["message"]["zh_CN"]


def test_unanswered_request_reaches_director_at_1h_and_street_at_24h_across_restart(
    api, world, db, database_url
):
    w = world
    request_id = open_as_family(api, w)["request_id"]
    request_ladder.run_due(db, now=T0 + timedelta(minutes=59))
    assert notified(api, w["worker_a"], request_id) == [(0, ("grid_worker",))]
    # "Restart": a new connection, a new process's view; the timers are in the database.
    with psycopg.connect(database_url, autocommit=True) as other:
        for minute in (60, 61, 90):
            request_ladder.run_due(other, now=T0 + timedelta(minutes=minute))
    steps = notified(api, w["worker_a"], request_id)
    assert steps[1] == (2, ("community_director",))
    director_step = [e for e in timeline(api, w["worker_a"], request_id) if e["kind"] == "queued"]
    assert [p["account_id"] for p in director_step[1]["data"]["responsible"]] == [
        w["director_a"].account_id
    ]
    with psycopg.connect(database_url, autocommit=True) as other:
        request_ladder.run_due(other, now=T0 + timedelta(hours=23, minutes=59))
    assert len(notified(api, w["worker_a"], request_id)) == 2
    listed = api.get("/requests?list=difficult", headers=w["director_a"].headers).json()
    assert request_id not in [i["request_id"] for i in listed["items"]]
    request_ladder.run_due(db, now=T0 + timedelta(hours=24))
    request_ladder.run_due(db, now=T0 + timedelta(hours=25))
    assert notified(api, w["worker_a"], request_id)[2] == (4, ("difficult_list", "street"))
    assert len(notified(api, w["worker_a"], request_id)) == 3
    listed = api.get("/requests?list=difficult", headers=w["director_a"].headers).json()
    assert [i["request_id"] for i in listed["items"]] == [request_id]
    assert listed["items"][0]["urgency"] == 0
    streets = db.execute(
        """SELECT payload->'recipients' FROM outbox
           WHERE request_id = %s AND payload->>'target' = 'street'""",
        (request_id,),
    ).fetchall()
    assert streets == [([w["street_a"].account_id],)]


def test_acknowledged_request_does_not_page_the_director_but_still_reaches_the_street(
    api, world, clock
):
    w = world
    request_id = open_as_family(api, w)["request_id"]
    clock.now = T0 + timedelta(minutes=20)
    r = api.post(f"/requests/{request_id}/acknowledge", headers=w["worker_a"].headers)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert (
        api.post(f"/requests/{request_id}/acknowledge", headers=w["worker_a"].headers).status_code
        == 409
    )
    with psycopg.connect(
        api.app.state.settings.database_url.get_secret_value(), autocommit=True
    ) as c:
        request_ladder.run_due(c, now=T0 + timedelta(hours=2))
        assert [s for s, _ in notified(api, w["worker_a"], request_id)] == [0]
        request_ladder.run_due(c, now=T0 + timedelta(hours=24))
    assert [s for s, _ in notified(api, w["worker_a"], request_id)] == [0, 4]


def test_request_without_public_reply_after_20h_is_on_the_directors_list(api, world, clock, db):
    w = world
    silent = open_as_family(api, w)["request_id"]
    answered = open_as_family(api, w, text="暖气不热，屋里只有十五度")["request_id"]
    noted = open_as_family(api, w, text="楼下垃圾没人清")["request_id"]
    clock.now = T0 + timedelta(hours=2)
    reply = {"text": "已联系物业，明天上午维修。"}
    assert (
        api.post(
            f"/requests/{answered}/replies", json=reply, headers=w["worker_a"].headers
        ).status_code
        == 201
    )
    note = {"text": "物业电话没人接", "public": False}
    assert (
        api.post(f"/requests/{noted}/replies", json=note, headers=w["worker_a"].headers).status_code
        == 201
    )

    def promise_list(actor, at):
        clock.now = at
        r = api.get("/requests?list=promise", headers=actor.headers)
        assert r.status_code == 200, r.text
        return [i["request_id"] for i in r.json()["items"]]

    assert promise_list(w["director_a"], T0 + timedelta(hours=19, minutes=59)) == []
    # An internal note is not an answer to the resident: only the public reply counts.
    assert promise_list(w["director_a"], T0 + timedelta(hours=20)) == [silent, noted]
    assert promise_list(w["director_b"], T0 + timedelta(hours=20)) == []
    # The requester's side never sees the internal note.
    kinds = [e["kind"] for e in timeline(api, w["fam_a"], noted)]
    assert "note" not in kinds and "opened" in kinds


def test_requests_are_out_of_reach_exactly_like_missing_ones_and_staff_reads_are_audited(
    api, world, db
):
    w = world
    request_id = open_as_family(api, w)["request_id"]
    for actor in (w["fam_b"], w["worker_b"], w["director_b"], w["volunteer"]):
        assert api.get(f"/requests/{request_id}", headers=actor.headers).status_code == 404
        assert api.get(f"/requests/{request_id}/timeline", headers=actor.headers).status_code == 404
        listed = api.get("/requests", headers=actor.headers).json()["items"]
        assert request_id not in [i["request_id"] for i in listed]
    assert (
        api.post(f"/requests/{request_id}/acknowledge", headers=w["worker_b"].headers).status_code
        == 404
    )
    assert api.get("/requests/999999999", headers=w["worker_a"].headers).status_code == 404
    # A family member cannot open a request for someone else's resident.
    foreign = {"text": "电梯坏了", "resident_id": w["res_b"]}
    assert api.post("/requests", json=foreign, headers=w["fam_a"].headers).status_code == 404
    assert (
        api.post(
            "/requests", json=foreign | {"channel": "app"}, headers=w["volunteer"].headers
        ).status_code
        == 403
    )

    before = db.execute(
        "SELECT count(*) FROM audit_log WHERE resident_id = %s AND action = 'request.read'",
        (w["res_a"],),
    ).fetchone()[0]
    r = api.get(f"/requests/{request_id}?purpose=dispatch", headers=w["worker_a"].headers)
    assert r.status_code == 200 and r.json()["resident_name"] == "Resident A"
    audit = db.execute(
        """SELECT account_id, purpose FROM audit_log
           WHERE resident_id = %s AND action = 'request.read' ORDER BY audit_id""",
        (w["res_a"],),
    ).fetchall()
    assert len(audit) == before + 1 and audit[-1] == (w["worker_a"].account_id, "dispatch")
    # The requester's side sees progress, not the resident's phone.
    mine = api.get(f"/requests/{request_id}", headers=w["fam_a"].headers).json()
    assert mine["status"] == "open" and "resident_phone" not in mine


def test_staff_open_on_behalf_by_hotline_and_a_grid_worker_reports_a_place(api, world):
    w = world
    r = api.post(
        "/requests",
        json={
            "text": "老人打电话说想找人帮忙买菜",
            "resident_id": w["res_a"],
            "channel": "hotline",
        },
        headers=w["duty"].headers,
    )
    assert r.status_code == 201 and r.json()["channel"] == "hotline"
    assert r.json()["category"] == "living_help"
    missing_channel = {"text": "路灯不亮", "resident_id": w["res_a"]}
    assert api.post("/requests", json=missing_channel, headers=w["duty"].headers).status_code == 422
    r = api.post(
        "/requests",
        json={"text": "小区东门路灯不亮", "address": "和谐路3号东门"},
        headers=w["worker_a"].headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["channel"] == "grid_worker" and r.json()["grid_id"] == w["grid_a"]


def test_low_rating_reopens_the_request_to_the_director(api, world, clock):
    w = world
    request_id = open_as_family(api, w)["request_id"]
    rating = {"score": 2, "comment": "灯还是不亮"}
    assert (
        api.post(
            f"/requests/{request_id}/rating", json=rating, headers=w["fam_a"].headers
        ).status_code
        == 409
    )
    clock.now = T0 + timedelta(hours=3)
    resolved = api.post(
        f"/requests/{request_id}/resolve",
        json={"resolution": "已更换灯泡"},
        headers=w["worker_a"].headers,
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert (
        api.post(
            f"/requests/{request_id}/rating", json=rating, headers=w["worker_a"].headers
        ).status_code
        == 403
    )
    clock.now = T0 + timedelta(hours=5)
    r = api.post(f"/requests/{request_id}/rating", json=rating, headers=w["fam_a"].headers)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "open" and r.json()["reopen_count"] == 1
    assert notified(api, w["worker_a"], request_id)[-1] == (2, ("community_director",))
    # Resolved again and rated well: it stays resolved; the same resolution is rated once.
    api.post(
        f"/requests/{request_id}/resolve",
        json={"resolution": "电工已修好线路"},
        headers=w["director_a"].headers,
    )
    good = {"score": 5, "comment": "谢谢"}
    r = api.post(f"/requests/{request_id}/rating", json=good, headers=w["fam_a"].headers)
    assert r.status_code == 201 and r.json()["status"] == "resolved"
    assert (
        api.post(
            f"/requests/{request_id}/rating", json=good, headers=w["fam_a"].headers
        ).status_code
        == 409
    )
    public = [e["kind"] for e in timeline(api, w["fam_a"], request_id)]
    assert public.count("resolved") == 2 and "reopened" in public and public.count("rated") == 2


def test_director_edits_a_category_policy_and_open_ladders_keep_their_copy(api, world):
    w = world
    request_id = open_as_family(api, w)["request_id"]
    faster = {
        "steps": [
            {"action": "notify", "targets": ["grid_worker"], "stop_on": "acknowledged"},
            {"action": "wait", "seconds": 600},
            {"action": "notify", "targets": ["community_director"], "stop_on": "acknowledged"},
        ]
    }
    assert (
        api.put(
            "/request-policies/facilities", json=faster, headers=w["worker_a"].headers
        ).status_code
        == 403
    )
    for bad_steps in (
        [{"action": "notify", "targets": ["mayor"]}],
        [{"action": "notify", "targets": [{"a": 1}]}],
        [{"action": "wait", "seconds": "3600"}],
        [{"action": "notify", "targets": ["grid_worker"]}, {"action": "repeat", "to_step": 0}],
    ):
        body = {"steps": bad_steps}
        refused = api.put(
            "/request-policies/facilities", json=body, headers=w["director_a"].headers
        )
        assert refused.status_code == 422, (bad_steps, refused.text)
    r = api.put("/request-policies/facilities", json=faster, headers=w["director_a"].headers)
    assert r.status_code == 200, r.text
    try:
        later = open_as_family(api, w)["request_id"]
        with psycopg.connect(
            api.app.state.settings.database_url.get_secret_value(), autocommit=True
        ) as c:
            request_ladder.run_due(c, now=T0 + timedelta(minutes=10))
        assert [s for s, _ in notified(api, w["worker_a"], later)] == [0, 2]
        assert [s for s, _ in notified(api, w["worker_a"], request_id)] == [0]
    finally:
        standard = next(
            p
            for p in api.get("/request-policies", headers=w["duty"].headers).json()
            if p["category"] == "heating"
        )
        api.put(
            "/request-policies/facilities",
            json={"steps": standard["steps"]},
            headers=w["director_a"].headers,
        )


def test_band_service_request_that_is_not_a_booking_becomes_a_request(db, world, bind_band, api):
    w = world
    band = bind_band(w["res_a"])
    event_id = uuid.uuid4().hex[:16]
    db.execute(
        """INSERT INTO device_events (device_id, event_id, t, type, service, received_at)
           VALUES (%s, %s, %s, 'service_request', 'repair', %s)""",
        (band, event_id, T0, T0),
    )
    opened = open_from_band_events(conn=db, now=T0 + timedelta(seconds=5))
    assert len(opened) == 1
    assert open_from_band_events(conn=db, now=T0 + timedelta(seconds=10)) == []
    r = api.get(f"/requests/{opened[0]}", headers=w["worker_a"].headers).json()
    assert r["channel"] == "band" and r["grid_id"] == w["grid_a"]
    assert "手环" in r["text"]
