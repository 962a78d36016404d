"""A request's pages go through the alerts' dispatcher: a page made moot by the request's
acknowledgement or resolution is cancelled, and a page that fails for good is on the
request's timeline with its reason, like an alert's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerting.dispatcher import Dispatcher
from tests.alerting.receivers import start_receivers
from tests.api.requests.world import T0, open_as_family, timeline


@pytest.fixture
def community(api_settings):
    """A community gateway receiver, and settings pointing the dispatcher at it."""
    configured, recv = start_receivers(api_settings)
    yield configured, recv["community"]
    for r in recv.values():
        r.stop()


def _numbers_received(receiver) -> list[str]:
    return [r.json["request"]["number"] for r in receiver.received if "request" in r.json]


def _page_status(db, request_id: int) -> list[str]:
    rows = db.execute(
        "SELECT status FROM outbox WHERE request_id = %s ORDER BY outbox_id", (request_id,)
    ).fetchall()
    return [r[0] for r in rows]


def test_page_still_queued_when_the_request_is_taken_or_resolved_is_cancelled(
    api, world, db, community, redis_client
):
    w = world
    settings, receiver = community
    taken = open_as_family(api, w)
    resolved = open_as_family(api, w, text="楼下垃圾没人清")
    sent = open_as_family(api, w, text="暖气不热，屋里只有十五度")
    r = api.post(f"/requests/{taken['request_id']}/acknowledge", headers=w["worker_a"].headers)
    assert r.status_code == 200, r.text
    r = api.post(
        f"/requests/{resolved['request_id']}/resolve",
        json={"resolution": "已清运"},
        headers=w["worker_a"].headers,
    )
    assert r.status_code == 200, r.text

    Dispatcher(settings, redis_client).run_once(
        db, now=T0 + timedelta(minutes=1), channels=("community_gateway",)
    )

    numbers = _numbers_received(receiver)
    assert sent["number"] in numbers
    assert taken["number"] not in numbers and resolved["number"] not in numbers
    for request, why in ((taken, "acknowledged"), (resolved, "resolved")):
        assert _page_status(db, request["request_id"]) == ["cancelled"]
        entries = timeline(api, w["worker_a"], request["request_id"])
        (cancelled,) = [e for e in entries if e["kind"] == "notification_cancelled"]
        assert cancelled["actor"] == "dispatcher" and cancelled["data"]["why"] == why
        assert not cancelled["public"]
        public = [e["kind"] for e in timeline(api, w["fam_a"], request["request_id"])]
        assert "notification_cancelled" not in public
    delivered = [e["kind"] for e in timeline(api, w["worker_a"], sent["request_id"])]
    assert "delivered" in delivered and "notification_cancelled" not in delivered


def test_page_of_a_request_that_fails_for_good_is_on_its_timeline_with_the_reason(
    api, world, db, community, redis_client
):
    w = world
    settings, receiver = community
    receiver.status = 400  # the gateway rejects the message itself: not retried
    request_id = open_as_family(api, w)["request_id"]

    Dispatcher(settings, redis_client).run_once(
        db, now=T0 + timedelta(minutes=1), channels=("community_gateway",)
    )

    assert _page_status(db, request_id) == ["failed"]
    entries = timeline(api, w["director_a"], request_id)
    (failed,) = [e for e in entries if e["kind"] == "delivery_failed"]
    assert failed["data"]["reason"] == "HTTP 400"
    assert failed["data"]["target"] == "grid_worker"
    assert failed["data"]["channel"] == "community_gateway"
