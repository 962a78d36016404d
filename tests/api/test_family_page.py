"""The family page's API: an elder's open SOS/falls and what staff did; own elder only, audited."""

from __future__ import annotations

from datetime import UTC, datetime

from alerting.alerts import service as alerts


def test_family_sees_own_elders_sos_with_staff_actions_but_not_staff_notes(
    client, family_world, bind_band, open_alert, db
) -> None:
    rid, fam = family_world["res_a"], family_world["fam_a"]
    band = bind_band(rid)
    alert_id = open_alert(band, rule="sos", severity=4)
    staff = db.execute(
        """INSERT INTO accounts (username, full_name, password_hash, role)
           VALUES ('staff-' || md5(random()::text), '值班员 王芳', 'x', 'duty_staff')
           RETURNING account_id"""
    ).fetchone()[0]
    now = datetime.now(UTC)
    alerts.acknowledge(db, alert_id=alert_id, actor=f"account:{staff}", now=now)
    alerts.add_note(
        db, alert_id=alert_id, actor=f"account:{staff}", text="内部：家属情绪激动", now=now
    )
    alerts.assign(db, alert_id=alert_id, actor=f"account:{staff}", assignee="网格员 李强", now=now)

    response = client.get("/family/alerts", params={"resident_id": rid}, headers=fam.headers)
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert item["alert_id"] == alert_id and item["rule"] == "sos"
    kinds = [
        (a["kind"], a["actor_name"], a["data"])
        for a in item["actions"]
        if a["kind"] not in ("notified", "queued")
    ]
    assert kinds == [
        ("acknowledged", "值班员 王芳", {}),
        ("assigned", "值班员 王芳", {"assignee": "网格员 李强"}),
    ]
    assert "家属情绪激动" not in response.text
    audit = db.execute(
        "SELECT resident_id, action FROM audit_log WHERE account_id = %s", (fam.account_id,)
    ).fetchall()
    assert audit == [(rid, "family.alerts")]


def test_family_cannot_read_another_elders_alerts_and_staff_use_the_console(
    client, family_world, make_actor
) -> None:
    fam_a, rid_b = family_world["fam_a"], family_world["res_b"]
    other = client.get("/family/alerts", params={"resident_id": rid_b}, headers=fam_a.headers)
    assert other.status_code == 404
    staff = make_actor("duty_staff")
    refused = client.get(
        "/family/alerts", params={"resident_id": family_world["res_a"]}, headers=staff.headers
    )
    assert refused.status_code == 403
