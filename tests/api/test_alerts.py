"""The alert console's API: who sees which alert, the console's actions, the audit rule."""

from __future__ import annotations

import pytest


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.text
    return {item["alert_id"] for item in response.json()["items"]}


def test_duty_staff_and_admin_see_alerts_of_every_grid(client, alert_world):
    w = alert_world
    for who in ("duty", "admin"):
        seen = _ids(client.get("/alerts?limit=100", headers=w[who].headers))
        assert {w["alert_a"], w["alert_b"]} <= seen


def test_grid_worker_sees_only_alerts_of_residents_in_their_grid(client, alert_world):
    w = alert_world
    seen = _ids(client.get("/alerts?limit=100", headers=w["worker_a"].headers))
    assert w["alert_a"] in seen
    assert w["alert_b"] not in seen


def test_other_grids_alert_is_the_same_404_as_a_missing_one(client, alert_world, db):
    w = alert_world
    headers = w["worker_a"].headers
    missing = db.execute("SELECT coalesce(max(alert_id), 0) + 1000 FROM alerts").fetchone()[0]
    for path in ("", "/timeline"):
        theirs = client.get(f"/alerts/{w['alert_b']}{path}", headers=headers)
        absent = client.get(f"/alerts/{missing}{path}", headers=headers)
        assert theirs.status_code == absent.status_code == 404
        assert theirs.json()["error"]["message"] == absent.json()["error"]["message"]
    for action, body in (("acknowledge", None), ("resolve", {"resolution": "x"})):
        theirs = client.post(f"/alerts/{w['alert_b']}/{action}", json=body, headers=headers)
        absent = client.post(f"/alerts/{missing}/{action}", json=body, headers=headers)
        assert theirs.status_code == absent.status_code == 404
    status = db.execute("SELECT status FROM alerts WHERE alert_id = %s", (w["alert_b"],))
    assert status.fetchone()[0] == "open"


def test_family_and_volunteers_have_no_alert_console(client, alert_world):
    w = alert_world
    for who in ("fam_a", "volunteer"):
        headers = w[who].headers
        assert client.get("/alerts", headers=headers).status_code == 403
        # Even the alert of the family member's own resident: the console is not theirs.
        assert client.get(f"/alerts/{w['alert_a']}", headers=headers).status_code == 403
        ack = client.post(f"/alerts/{w['alert_a']}/acknowledge", headers=headers)
        assert ack.status_code == 403
        assert client.post("/alerts/stream/session", headers=headers).status_code == 403
    assert client.get("/alerts").status_code == 401


def test_filters_by_status_priority_severity_and_grid(client, alert_world):
    w = alert_world
    h = w["duty"].headers
    assert _ids(client.get(f"/alerts?grid_id={w['grid_b']}", headers=h)) == {w["alert_b"]}
    sos = client.get(f"/alerts/{w['alert_b']}", headers=h).json()
    by_priority = _ids(
        client.get(f"/alerts?grid_id={w['grid_b']}&priority={sos['priority']}", headers=h)
    )
    assert by_priority == {w["alert_b"]}
    other = 5 if sos["priority"] != 5 else 4
    assert not _ids(client.get(f"/alerts?grid_id={w['grid_b']}&priority={other}", headers=h))
    assert not _ids(client.get(f"/alerts?grid_id={w['grid_a']}&min_severity=4", headers=h))
    client.post(f"/alerts/{w['alert_a']}/acknowledge", headers=h)
    grid_a = f"/alerts?grid_id={w['grid_a']}"
    assert not _ids(client.get(f"{grid_a}&status=open", headers=h))
    assert _ids(client.get(f"{grid_a}&status=acknowledged&status=open", headers=h)) == {
        w["alert_a"]
    }
    page = client.get("/alerts?limit=1&order=priority&status=open", headers=h).json()
    assert len(page["items"]) == 1 and page["next_offset"] == 1


def test_console_actions_record_the_acting_account(client, alert_world, db):
    w = alert_world
    worker = w["worker_a"]
    url = f"/alerts/{w['alert_a']}"
    actor = f"account:{worker.account_id}"
    ack = client.post(f"{url}/acknowledge", headers=worker.headers)
    assert ack.status_code == 200, ack.text
    assert ack.json()["status"] == "acknowledged"
    assert ack.json()["acknowledged_by"] == actor
    assert client.post(f"{url}/acknowledge", headers=worker.headers).status_code == 409
    assigned = client.post(f"{url}/assign", json={"assignee": "Li Na"}, headers=worker.headers)
    assert assigned.json()["assignee"] == "Li Na"
    note = client.post(f"{url}/notes", json={"text": "called her son"}, headers=worker.headers)
    assert note.status_code == 201
    resolved = client.post(f"{url}/resolve", json={"resolution": "ok"}, headers=worker.headers)
    assert resolved.json()["status"] == "resolved"
    again = client.post(f"{url}/resolve", json={"resolution": "ok"}, headers=worker.headers)
    assert again.status_code == 409
    timeline = client.get(f"{url}/timeline", headers=worker.headers).json()["items"]
    mine = [(e["kind"], e["actor"]) for e in timeline if e["actor"] == actor]
    assert mine == [
        ("acknowledged", actor),
        ("assigned", actor),
        ("note", actor),
        ("resolved", actor),
    ]
    row = db.execute(
        "SELECT acknowledged_by, resolved_by, resolution FROM alerts WHERE alert_id = %s",
        (w["alert_a"],),
    ).fetchone()
    assert row == (actor, actor, "ok")


def test_reading_an_alert_with_a_position_is_audited_and_listing_is_not(client, alert_world, db):
    w = alert_world
    duty = w["duty"]

    def audit_rows() -> int:
        return db.execute(
            "SELECT count(*) FROM audit_log WHERE account_id = %s AND resident_id = %s",
            (duty.account_id, w["res_a"]),
        ).fetchone()[0]

    client.get("/alerts?limit=100", headers=duty.headers)
    assert audit_rows() == 0
    body = client.get(f"/alerts/{w['alert_a']}", headers=duty.headers).json()
    assert body["position"]["lat"] == pytest.approx(41.1)
    assert body["resident"]["full_name"] == "Resident A"
    assert "lat" not in client.get("/alerts", headers=duty.headers).json()["items"][0]
    assert audit_rows() == 1
    row = db.execute(
        """SELECT action, purpose FROM audit_log WHERE account_id = %s AND resident_id = %s""",
        (duty.account_id, w["res_a"]),
    ).fetchone()
    assert row == ("alert.read", "duty_staff_duty")


def test_stream_cookie_is_http_only_strict_and_useless_as_a_bearer_token(client, alert_world):
    w = alert_world
    response = client.post("/alerts/stream/session", headers=w["duty"].headers)
    assert response.status_code == 204
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/alerts/stream" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    refused = client.get("/alerts", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert client.post("/alerts/stream/session").status_code == 401
