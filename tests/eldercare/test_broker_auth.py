"""The auth service's answers to the broker, as RabbitMQ 3.10's MQTT plugin asks them."""

from __future__ import annotations

import pytest

from eldercare.broker import hash_password
from eldercare.broker_auth import allowed
from eldercare.imei import make_imei

BAND, OTHER = make_imei(1), make_imei(2)
SECRET, WRONG = "band-secret", "not-the-secret"  # noqa: S105 - test fixture
HASHES = {BAND: hash_password(SECRET)}


def ask(question: str, username: str = BAND, client_id: str = BAND, **fields: str) -> bool:
    asked = {"username": username, "vhost": "/", "client_id": client_id, **fields}
    return allowed(question, asked, HASHES.get)


def topic(permission: str, routing_key: str, band: str = BAND) -> bool:
    fields = {"username": band, "vhost": "/", "variable_map.client_id": band}
    fields |= {"resource": "topic", "name": "amq.topic", "permission": permission}
    return allowed("topic", {**fields, "routing_key": routing_key}, HASHES.get)


def test_login_needs_the_password_the_imei_as_client_id_and_the_vhost():
    assert ask("user", password=SECRET)
    assert not ask("user", password=WRONG)
    assert not ask("user", client_id=OTHER, password=SECRET)  # another band's session
    assert not ask("user", username=OTHER, client_id=OTHER, password=SECRET)  # no hash
    assert not allowed("user", {"username": BAND, "vhost": "/", "password": SECRET}, HASHES.get)
    assert not ask("user", password=SECRET, vhost="other")
    assert not ask("user", username="ingest", client_id="ingest", password=SECRET)


def test_band_may_use_its_own_session_queues_and_the_mqtt_exchange_only():
    for permission in ("configure", "write", "read"):
        assert ask("resource", resource="queue", name=f"mqtt-subscription-{BAND}qos1",
                   permission=permission)  # fmt: skip
        assert not ask("resource", resource="queue", name=f"mqtt-subscription-{OTHER}qos1",
                       permission=permission)  # fmt: skip
        assert not ask("resource", resource="queue", name="ingest", permission=permission)
    assert ask("resource", resource="exchange", name="amq.topic", permission="write")
    assert not ask("resource", resource="exchange", name="amq.topic", permission="configure")
    assert not ask("resource", resource="exchange", name="amq.fanout", permission="write")


@pytest.mark.parametrize("kind", ["telemetry", "location", "event", "status"])
def test_band_publishes_its_own_uplink_only(kind):
    assert topic("write", f"eldercare.v1.{BAND}.{kind}")
    assert not topic("write", f"eldercare.v1.{OTHER}.{kind}")
    assert not topic("write", f"eldercare.v1.{BAND}.cmd")


@pytest.mark.parametrize(
    "key", ["#", "eldercare.v1.*.cmd", f"eldercare.v1.{OTHER}.cmd", f"eldercare.v1.{BAND}.#"]
)
def test_band_subscribes_to_its_own_cmd_only(key):
    assert topic("read", f"eldercare.v1.{BAND}.cmd")
    assert not topic("read", key)


def test_permission_questions_need_no_database():
    """With PostgreSQL down, connected bands keep their permissions; only logins wait."""

    def database_down(_device_id: str) -> str | None:
        raise AssertionError("asked the database")

    fields = {"username": BAND, "vhost": "/", "client_id": BAND}
    assert allowed("vhost", fields, database_down)
    exchange = {**fields, "resource": "exchange", "name": "amq.topic", "permission": "write"}
    assert allowed("resource", exchange, database_down)
