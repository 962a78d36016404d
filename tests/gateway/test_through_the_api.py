"""API calls on a watch's band, followed to the watch's TCP connection."""

from __future__ import annotations

import pytest

from gateway.store import set_watch_id
from tests.gateway.conftest import Watch
from tests.gateway.frames import frame
from tests.support.mqtt import wait_until


@pytest.fixture
def bound_watch(db, bind_band, family_world):
    """A watch whose band is bound to resident A, connected to the gateway and identified."""

    def connect(port: int) -> tuple[str, Watch]:
        imei = bind_band(family_world["res_a"])
        set_watch_id(db, device_id=imei, watch_id=imei[-10:], offset_min=None)
        watch = Watch(port)
        watch.send(frame("LK", imei[-10:]))
        watch.expect(b"LK")
        return imei, watch

    return connect


def sos_numbers(client, actor, imei: str, **body):
    return client.post(
        f"/devices/{imei}/commands", json={"type": "sos_numbers", **body}, headers=actor.headers
    )


def test_sos_numbers_set_through_the_api_reach_the_watch_and_are_audited(
    gateway, client, family_world, bound_watch, db
):
    imei, watch = bound_watch(gateway.port)
    sent = sos_numbers(
        client, family_world["worker_a"], imei, sos=["+8613800000001", "13900000002"],
        centre="02488880000",
    )  # fmt: skip
    assert sent.status_code == 202, sent.text
    assert watch.expect(b"SOS1,").content == b"SOS1,+8613800000001"
    assert watch.expect(b"SOS2,").content == b"SOS2,13900000002"
    assert watch.expect(b"CENTER,").content == b"CENTER,02488880000"
    audit = db.execute(
        "SELECT account_id, action FROM audit_log WHERE resident_id = %s",
        (family_world["res_a"],),
    ).fetchall()
    assert audit == [(family_world["worker_a"].account_id, "device.sos_numbers")]
    watch.close()


def test_sos_numbers_are_refused_for_a_foreign_band_a_family_member_and_bad_numbers(
    gateway, client, family_world, bound_watch
):
    imei, watch = bound_watch(gateway.port)
    foreign = sos_numbers(client, family_world["worker_b"], imei, sos=["13800000001"])
    assert foreign.status_code == 404
    family = sos_numbers(client, family_world["fam_a"], imei, sos=["13800000001"])
    assert family.status_code == 403
    worker = family_world["worker_a"]
    for body in (
        {"sos": ["138-0000-0001"]},
        {"sos": ["13800000001"], "centre": "call me"},
        {"sos": []},
        {"sos": ["13800000001"] * 4},
    ):
        refused = sos_numbers(client, worker, imei, **body)
        assert refused.status_code == 422, body
    dashes = sos_numbers(client, worker, imei, sos=["138-0000-0001"]).text
    assert "3 to 20 digits" in dashes
    assert sos_numbers(client, worker, imei, sos=["13800000001"]).status_code == 202
    watch.expect(b"SOS1,13800000001")  # only the valid call reached the watch
    assert watch.received == []
    watch.close()


def test_a_band_revoked_through_the_api_loses_its_watch_connection_at_once(
    gateway, client, family_world, bound_watch
):
    imei, watch = bound_watch(gateway.port)
    revoked = client.post(f"/devices/{imei}/revoke", headers=family_world["admin"].headers)
    assert revoked.status_code == 200, revoked.text
    assert watch.closed_by_gateway(timeout_s=3), "the revoked band's watch is still connected"
    closed = "eldercare_gateway_connections_closed_total"
    wait_until(lambda: gateway.metric(closed, reason="revoked") == 1, timeout_s=5)
    watch.close()

    again = Watch(gateway.port)
    again.send(frame("LK", imei[-10:]))
    assert again.closed_by_gateway(timeout_s=5)
    wait_until(lambda: gateway.metric(closed, reason="unknown_device") == 1, timeout_s=5)
    again.close()
