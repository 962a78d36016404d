"""Bands: provisioning (the broker accepts the row at once), revocation, binding, status,
commands."""

from __future__ import annotations

import base64
import contextlib
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from alerting.alerts import service as alerts
from api.app import create_app
from eldercare import keys
from eldercare.imei import make_imei
from tests.support.services import free_port


def _fresh_imei() -> str:
    return make_imei(uuid.uuid4().int % 1_000_000, tac="86111111")


def _connect(port: int, username: str, password: str) -> tuple[mqtt.Client, object]:
    """Connect as a band; return the client and the CONNACK reason code."""
    done = threading.Event()
    result: dict = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv311)
    client.username_pw_set(username, password)

    def on_connect(_c, _u, _f, reason_code, _p):
        result["rc"] = reason_code
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    assert done.wait(5), "no CONNACK"
    return client, result["rc"]


def _can_connect(port: int, username: str, password: str) -> bool:
    client, rc = _connect(port, username, password)
    client.loop_stop()
    client.disconnect()
    return not rc.is_failure


def test_provisioned_band_connects_and_revoked_band_cannot(client, family_world, broker, db):
    admin = family_world["admin"]
    imei = _fresh_imei()
    resp = client.post("/devices", json={"device_id": imei}, headers=admin.headers)
    assert resp.status_code == 201, resp.text
    password = resp.json()["mqtt_password"]
    stored = db.execute(
        "SELECT mqtt_password_hash FROM devices WHERE device_id = %s", (imei,)
    ).fetchone()[0]
    assert password not in stored and len(base64.b64decode(stored)) == 4 + 32  # salt + SHA-256
    assert _can_connect(broker.port, imei, password)  # at once: no reload, no wait
    assert not _can_connect(broker.port, imei, "wrong-password")
    revoked = client.post(f"/devices/{imei}/revoke", headers=admin.headers)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert not _can_connect(broker.port, imei, password)


def test_revoking_a_connected_band_disconnects_it_within_a_second(client, family_world, broker):
    admin = family_world["admin"]
    imei = _fresh_imei()
    resp = client.post("/devices", json={"device_id": imei}, headers=admin.headers)
    password = resp.json()["mqtt_password"]
    band, rc = _connect(broker.port, imei, password)
    lost = threading.Event()
    band.on_disconnect = lambda *_a: lost.set()
    try:
        assert not rc.is_failure
        started = time.monotonic()
        assert client.post(f"/devices/{imei}/revoke", headers=admin.headers).status_code == 200
        assert lost.wait(1.0), "the revoked band is still connected"
        assert time.monotonic() - started < 1.0
        band.loop_stop()  # paho would try again; the broker must refuse that
        assert not _can_connect(broker.port, imei, password)
    finally:
        band.loop_stop()
        band.disconnect()


def test_revocation_stands_when_the_broker_is_unreachable_and_a_retry_disconnects(
    client, api_settings, family_world, broker
):
    """The row is the credential: revoked at once; the live connection closes on retry."""
    admin = family_world["admin"]
    imei = _fresh_imei()
    password = client.post("/devices", json={"device_id": imei}, headers=admin.headers).json()[
        "mqtt_password"
    ]
    dead_admin = f"http://eldercare-admin:x@127.0.0.1:{free_port()}"
    cut_off = api_settings.model_copy(update={"broker_admin_url": SecretStr(dead_admin)})
    band, rc = _connect(broker.port, imei, password)
    lost = threading.Event()
    band.on_disconnect = lambda *_a: lost.set()
    try:
        assert not rc.is_failure
        with TestClient(create_app(cut_off)) as without_broker:
            answer = without_broker.post(f"/devices/{imei}/revoke", headers=admin.headers)
        assert answer.status_code == 503
        assert client.get(f"/devices/{imei}", headers=admin.headers).json()["state"] == "revoked"
        assert not _can_connect(broker.port, imei, password)  # no new login
        assert client.post(f"/devices/{imei}/revoke", headers=admin.headers).status_code == 200
        assert lost.wait(1.0), "the retried revocation did not disconnect the band"
    finally:
        band.loop_stop()
        band.disconnect()


def test_provisioning_refuses_bad_luhn_digit_and_second_provisioning(client, family_world):
    admin = family_world["admin"]
    imei = _fresh_imei()
    bad = imei[:14] + str((int(imei[14]) + 1) % 10)
    assert (
        client.post("/devices", json={"device_id": bad}, headers=admin.headers).status_code == 422
    )
    assert (
        client.post("/devices", json={"device_id": imei}, headers=admin.headers).status_code == 201
    )
    again = client.post("/devices", json={"device_id": imei}, headers=admin.headers)
    assert again.status_code == 409


def test_provisioning_records_a_watch_protocol_id_the_gateway_maps_to_the_imei(
    client, family_world, db
):
    from gateway.store import find_band

    admin = family_world["admin"]
    imei, other = _fresh_imei(), _fresh_imei()
    body = {"device_id": imei, "watch_id": imei[-10:], "watch_utc_offset_min": 480}
    resp = client.post("/devices", json=body, headers=admin.headers)
    assert resp.status_code == 201 and resp.json()["watch_id"] == imei[-10:]
    band = find_band(db, imei[-10:])
    assert band is not None and (band.imei, band.offset_s) == (imei, 8 * 3600)
    taken = client.post(
        "/devices", json={"device_id": other, "watch_id": imei[-10:]}, headers=admin.headers
    )
    assert taken.status_code == 409
    bad = client.post(
        "/devices", json={"device_id": other, "watch_id": "12 34"}, headers=admin.headers
    )
    assert bad.status_code == 422


@pytest.mark.parametrize("role", ["duty_staff", "grid_worker", "family", "volunteer"])
def test_only_admin_provisions_and_revokes(client, make_actor, role, new_band_ids):
    actor = make_actor(role)
    (imei,) = new_band_ids(1)
    assert (
        client.post(
            "/devices", json={"device_id": _fresh_imei()}, headers=actor.headers
        ).status_code
        == 403
    )
    assert client.post(f"/devices/{imei}/revoke", headers=actor.headers).status_code == 403


def test_grid_worker_binds_a_band_to_own_resident_only(client, family_world, new_band_ids):
    (imei,) = new_band_ids(1)
    worker = family_world["worker_a"]
    other = client.post(
        f"/devices/{imei}/bind", json={"resident_id": family_world["res_b"]}, headers=worker.headers
    )
    assert other.status_code == 404
    own = client.post(
        f"/devices/{imei}/bind", json={"resident_id": family_world["res_a"]}, headers=worker.headers
    )
    assert own.status_code == 200 and own.json()["resident_id"] == family_world["res_a"]
    profile = client.get(f"/residents/{family_world['res_a']}", headers=worker.headers).json()
    assert imei in profile["device_ids"]
    # Now bound: worker B cannot see it, nor steal it for their resident.
    assert (
        client.get(f"/devices/{imei}", headers=family_world["worker_b"].headers).status_code == 404
    )
    steal = client.post(
        f"/devices/{imei}/bind",
        json={"resident_id": family_world["res_b"]},
        headers=family_world["worker_b"].headers,
    )
    assert steal.status_code == 404
    unbound = client.post(f"/devices/{imei}/unbind", headers=worker.headers)
    assert unbound.status_code == 200 and unbound.json()["resident_id"] is None


def test_band_status_shows_online_battery_last_seen_to_its_family_only(
    client, family_world, bind_band, redis_client, api_settings
):
    imei = bind_band(family_world["res_a"])
    redis_client.hset(
        keys.band_state(api_settings.redis_prefix, imei),
        mapping={"online": "1", "battery": "57", "last_seen": "1795420800000"},
    )
    mine = client.get(f"/devices/{imei}", headers=family_world["fam_a"].headers)
    assert mine.status_code == 200
    assert (mine.json()["online"], mine.json()["battery"]) == (True, 57)
    assert mine.json()["last_seen"].startswith("2026-11-23T08:00:00")
    assert client.get(f"/devices/{imei}", headers=family_world["fam_b"].headers).status_code == 404
    assert (
        client.get(f"/devices/{_fresh_imei()}", headers=family_world["fam_b"].headers).status_code
        == 404
    )


@contextlib.contextmanager
def band_commands(broker, imei: str) -> Iterator[queue.Queue]:
    """Commands published on a band's cmd topic, as they arrive."""
    received: queue.Queue = queue.Queue()
    band = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv311
    )
    band.username_pw_set("simulator", "dev-simulator-secret")
    subscribed = threading.Event()
    band.on_subscribe = lambda *_a: subscribed.set()
    band.on_message = lambda _c, _u, msg: received.put(json.loads(msg.payload))
    band.on_connect = lambda c, *_a: c.subscribe(f"eldercare/v1/{imei}/cmd", qos=1)
    band.connect("127.0.0.1", broker.port)
    band.loop_start()
    try:
        assert subscribed.wait(5)
        yield received
    finally:
        band.loop_stop()
        band.disconnect()


def test_locate_command_reaches_the_band_topic(client, family_world, bind_band, broker):
    imei = bind_band(family_world["res_a"])
    with band_commands(broker, imei) as received:
        resp = client.post(
            f"/devices/{imei}/commands",
            json={"type": "locate"},
            headers=family_world["fam_a"].headers,
        )
        assert resp.status_code == 202, resp.text
        message = received.get(timeout=5)
    assert message["type"] == "locate" and message["id"] == resp.json()["command_id"]


def test_config_command_may_change_one_interval(client, family_world, bind_band, broker):
    imei = bind_band(family_world["res_a"])
    config = {"type": "config", "location_interval_s": 10}
    with band_commands(broker, imei) as received:
        resp = client.post(
            f"/devices/{imei}/commands", json=config, headers=family_world["worker_a"].headers
        )
        assert resp.status_code == 202, resp.text
        message = received.get(timeout=5)
    assert message["location_interval_s"] == 10 and "telemetry_interval_s" not in message


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"type": "config"}, "give telemetry_interval_s, location_interval_s or both"),
        ({"type": "config", "telemetry_interval_s": 900}, "would report a band this slow"),
        ({"type": "config", "location_interval_s": 5}, "greater than or equal to 10"),
    ],
)
def test_config_commands_the_system_cannot_live_with_are_refused(
    client, family_world, bind_band, config, message
):
    imei = bind_band(family_world["res_a"])
    resp = client.post(
        f"/devices/{imei}/commands", json=config, headers=family_world["worker_a"].headers
    )
    assert resp.status_code == 422 and message in resp.text


def test_family_cannot_configure_and_other_family_cannot_locate(client, family_world, bind_band):
    imei = bind_band(family_world["res_a"])
    config = {"type": "config", "telemetry_interval_s": 60, "location_interval_s": 300}
    assert (
        client.post(
            f"/devices/{imei}/commands", json=config, headers=family_world["fam_a"].headers
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/devices/{imei}/commands",
            json={"type": "locate"},
            headers=family_world["fam_b"].headers,
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("action", "actor", "resolution"),
    [("unbind", "worker_a", "band unbound"), ("revoke", "admin", "band revoked")],
)
def test_unbound_or_revoked_band_stops_its_device_alerts_not_the_residents_emergencies(
    client, family_world, bind_band, open_alert, db, action, actor, resolution
):
    imei = bind_band(family_world["res_a"])
    offline = open_alert(imei, rule="device_offline", severity=2)
    sos, vital = open_alert(imei, rule="sos", severity=4), open_alert(imei, rule="tachycardia")
    account = family_world[actor]
    resp = client.post(f"/devices/{imei}/{action}", headers=account.headers)
    assert resp.status_code == 200, resp.text
    who = f"account:{account.account_id}"
    gone = alerts.get(db, alert_id=offline)
    assert (gone["status"], gone["resolved_by"]) == ("resolved", who)
    assert gone["esc_due_at"] is None  # escalation stopped
    last = alerts.timeline(db, alert_id=offline)[-1]
    assert (last["kind"], last["actor"], last["data"]) == (
        "resolved",
        who,
        {"resolution": resolution},
    )
    for alert_id in (sos, vital):
        kept = alerts.get(db, alert_id=alert_id)
        assert (kept["status"], kept["esc_due_at"] is not None) == ("open", True)
