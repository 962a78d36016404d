"""After a resolved SOS or fall, the resident or their family rates how it was handled: once
per account, own elder only; a low rating is on the alert's timeline and pages the director
(and is never cancelled for the alert being resolved); the ratings count in the grid's
satisfaction beside the requests' ratings."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from alerting.alerts import service as alerts
from alerting.dispatcher import Dispatcher
from alerting.rules.common import Finding
from tests.alerting.receivers import start_receivers
from tests.api.requests.world import T0, open_as_family


def raise_alert(db, band: str, rule: str, at) -> int:
    finding = Finding(
        rule=rule,
        device_id=band,
        observed_at_ms=int(at.timestamp() * 1000),
        severity=4 if rule in ("sos", "fall") else 3,
        title=f"{rule} (test)",
        source_event_id=uuid.uuid4().hex if rule in ("sos", "fall") else None,
    )
    return alerts.apply_finding(db, finding=finding, now=at)


def resolve(db, alert_id: int, at) -> None:
    alerts.resolve(db, alert_id=alert_id, actor="duty:wang", resolution="已到场处置", now=at)


def rate(api, actor, alert_id: int, score: int, comment: str = ""):
    return api.post(
        f"/family/alerts/{alert_id}/rating",
        json={"score": score, "comment": comment},
        headers=actor.headers,
    )


def to_rate(api, actor, resident_id: int) -> list[int]:
    r = api.get("/family/alerts", params={"resident_id": resident_id}, headers=actor.headers)
    assert r.status_code == 200, r.text
    return [a["alert_id"] for a in r.json()["to_rate"]]


@pytest.fixture
def sos(world, db, bind_band, clock):
    """An SOS of resident A raised at T0; the test resolves it."""
    band = bind_band(world["res_a"])
    return band, raise_alert(db, band, "sos", T0)


def test_only_a_resolved_sos_or_fall_of_ones_own_elder_is_rated_once(
    api, world, db, sos, clock, make_actor, link_family
):
    w = world
    band, alert_id = sos
    early = rate(api, w["fam_a"], alert_id, 5)
    assert early.status_code == 409
    assert early.json()["error"]["message"] == "这次告警尚未处理完毕，办结后才能评价"
    assert alert_id not in to_rate(api, w["fam_a"], w["res_a"])

    clock.now = T0 + timedelta(minutes=30)
    resolve(db, alert_id, clock.now)
    assert to_rate(api, w["fam_a"], w["res_a"]) == [alert_id]
    assert rate(api, w["fam_b"], alert_id, 5).status_code == 404  # another elder's alert
    assert rate(api, w["fam_a"], 10**12, 5).status_code == 404
    assert rate(api, w["worker_a"], alert_id, 5).status_code == 403  # staff do not rate
    assert rate(api, w["fam_a"], alert_id, 6).status_code == 422
    tachy = raise_alert(db, band, "tachycardia", T0)
    resolve(db, tachy, clock.now)
    refused = rate(api, w["fam_a"], tachy, 5)
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == "只有SOS求助和跌倒告警可以评价"

    r = rate(api, w["fam_a"], alert_id, 4, "来得很快")
    assert r.status_code == 201, r.text
    assert r.json() == {"alert_id": alert_id, "score": 4, "to_director": False}
    again = rate(api, w["fam_a"], alert_id, 5)
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "您已评价过这次处理，不能重复评价"
    assert to_rate(api, w["fam_a"], w["res_a"]) == []
    # The resident's own account (a family account linked to themselves) rates it too.
    own = make_actor("family")
    link_family(w["res_a"], own.account_id)
    assert to_rate(api, own, w["res_a"]) == [alert_id]
    assert rate(api, own, alert_id, 5).status_code == 201
    rated = [
        (e["actor"], e["data"]["score"], e["data"]["comment"])
        for e in alerts.timeline(db, alert_id=alert_id)
        if e["kind"] == "rated"
    ]
    assert rated == [
        (f"account:{w['fam_a'].account_id}", 4, "来得很快"),
        (f"account:{own.account_id}", 5, ""),
    ]
    assert _director_pages(db, alert_id) == []


def _director_pages(db, alert_id: int) -> list[tuple]:
    return db.execute(
        """SELECT status, payload->'low_rating' FROM outbox
           WHERE alert_id = %s AND idempotency_key LIKE %s ORDER BY outbox_id""",
        (alert_id, f"alert-{alert_id}-rating-%-community_director"),
    ).fetchall()


def test_low_rating_of_a_resolved_sos_reaches_the_director(api, world, db, sos, clock):
    w = world
    _, alert_id = sos
    clock.now = T0 + timedelta(minutes=30)
    resolve(db, alert_id, clock.now)
    clock.now = T0 + timedelta(hours=2)
    r = rate(api, w["fam_a"], alert_id, 1, "等了四十分钟才有人来")
    assert r.status_code == 201 and r.json()["to_director"] is True
    timeline = alerts.timeline(db, alert_id=alert_id)
    rated = next(e for e in timeline if e["kind"] == "rated")
    assert rated["data"] == {"score": 1, "comment": "等了四十分钟才有人来"}
    queued = [e for e in timeline if e["kind"] == "queued" and e["data"].get("low_rating")]
    assert [e["data"]["targets"] for e in queued] == [["community_director"]]

    (page,) = _director_pages(db, alert_id)
    assert page == ("pending", {"score": 1, "comment": "等了四十分钟才有人来"})


def test_low_rating_page_is_delivered_though_the_alert_is_resolved(
    api, api_settings, world, db, sos, clock, redis_client
):
    w = world
    _, alert_id = sos
    clock.now = T0 + timedelta(minutes=30)
    resolve(db, alert_id, clock.now)
    clock.now = T0 + timedelta(hours=2)
    assert rate(api, w["fam_a"], alert_id, 2, "态度不好").status_code == 201
    settings, recv = start_receivers(api_settings)
    try:
        Dispatcher(settings, redis_client).run_once(
            db, now=clock.now + timedelta(seconds=1), channels=("community_gateway",)
        )
        got = [
            r.json
            for r in recv["community"].received
            if r.json.get("alert", {}).get("alert_id") == alert_id and "low_rating" in r.json
        ]
    finally:
        for receiver in recv.values():
            receiver.stop()
    assert [(g["role"], g["low_rating"]["score"]) for g in got] == [("community_director", 2)]
    assert _director_pages(db, alert_id)[0][0] == "delivered"


def test_alert_ratings_count_in_the_grids_satisfaction_beside_request_ratings(
    api, world, db, sos, clock, make_actor, link_family
):
    w = world
    _, alert_id = sos
    # A request of grid A, resolved and rated 5 (its grid worker's figure counts only it).
    request_id = open_as_family(api, w)["request_id"]
    clock.now = T0 + timedelta(minutes=30)
    resolve(db, alert_id, clock.now)
    api.post(
        f"/requests/{request_id}/resolve",
        json={"resolution": "已换灯"},
        headers=w["worker_a"].headers,
    )
    assert (
        api.post(
            f"/requests/{request_id}/rating", json={"score": 5}, headers=w["fam_a"].headers
        ).status_code
        == 201
    )
    # The SOS rated 2 by the family and 4 by the resident's own account.
    own = make_actor("family")
    link_family(w["res_a"], own.account_id)
    assert rate(api, w["fam_a"], alert_id, 2).status_code == 201
    assert rate(api, own, alert_id, 4).status_code == 201

    q = {"from": "2026-11", "to": "2026-11"}
    director = w["director_a"].headers
    by_grid = api.get("/reports/requests", params=q | {"by": "grid"}, headers=director).json()
    (row,) = by_grid["rows"]
    # (5 + 2 + 4) / 3 = 3.6667; one request, three ratings, two of them of the alert.
    assert (row["key"], row["requests"]) == (str(w["grid_a"]), 1)
    assert (row["satisfaction"], row["rated"], row["alerts_rated"]) == (3.6667, 3, 2)
    by_worker = api.get(
        "/reports/requests", params=q | {"by": "grid_worker"}, headers=director
    ).json()
    mine = [r for r in by_worker["rows"] if r["key"] == str(w["worker_a"].account_id)]
    assert [(r["satisfaction"], r["rated"]) for r in mine] == [(5.0, 1)]
    # The other grid's director sees none of it; a grid with only rated alerts has a row.
    other = api.get("/reports/requests", params=q | {"by": "grid"}, headers=w["director_b"].headers)
    assert other.json()["rows"] == []
    db.execute("DELETE FROM requests WHERE request_id = %s", (request_id,))
    (only_alerts,) = api.get(
        "/reports/requests", params=q | {"by": "grid"}, headers=director
    ).json()["rows"]
    assert only_alerts["requests"] == 0 and only_alerts["first_response_median_s"] is None
    assert (only_alerts["satisfaction"], only_alerts["rated"]) == (3.0, 2)
