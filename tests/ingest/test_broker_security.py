"""The broker lets a band log in only as itself, publish only under its own topics and read
only its own cmd."""

from __future__ import annotations

import threading
import time

import orjson
import paho.mqtt.client as mqtt
import pika
import pika.exceptions
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from eldercare import topics
from eldercare.broker import DEV_SERVICE_ACCOUNTS, Grant, bootstrap, hash_password
from eldercare.broker_auth import BrokerAuthServer
from tests.support.mqtt import CommandListener, make_client, wait_until


def band_client(broker, device_id: str, password: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv311)
    client.username_pw_set(device_id, password)
    return client


def connect_result(client: mqtt.Client, port: int) -> int:
    result: dict = {}
    done = threading.Event()

    def on_connect(_c, _u, _f, reason_code, _p):
        result["rc"] = reason_code.value
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(5)
    return result.get("rc", -1)


@pytest.fixture
def two_bands(broker, new_band_ids):
    band_a, band_b = new_band_ids(2)
    broker.add_band(band_a, "secret-a")
    broker.add_band(band_b, "secret-b")
    return band_a, band_b


def test_anonymous_and_wrong_password_are_refused(broker, two_bands):
    band_a, _ = two_bands
    anonymous = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    assert connect_result(anonymous, broker.port) != 0
    wrong = band_client(broker, band_a, "not-the-secret")
    assert connect_result(wrong, broker.port) != 0
    right = band_client(broker, band_a, "secret-a")
    assert connect_result(right, broker.port) == 0
    for client in (anonymous, wrong, right):
        client.loop_stop()
        client.disconnect()


def test_band_cannot_publish_under_another_bands_topic(broker, two_bands):
    """The broker refuses the forged publish (and closes that connection): nothing arrives."""
    band_a, band_b = two_bands
    watcher = CommandListener(broker.url("ingest"), "eldercare/v1/+/telemetry")
    forger = band_client(broker, band_a, "secret-a")
    honest = band_client(broker, band_a, "secret-a")
    try:
        now = int(time.time() * 1000)
        forged = orjson.dumps({"v": 1, "sent_at": now, "samples": [{"t": now, "hr": 30}]})
        own = orjson.dumps({"v": 1, "sent_at": now, "samples": [{"t": now, "hr": 70}]})
        assert connect_result(forger, broker.port) == 0
        forger.publish(f"eldercare/v1/{band_b}/telemetry", forged, qos=1)
        wait_until(lambda: not forger.is_connected(), timeout_s=5)
        forger.loop_stop()
        assert connect_result(honest, broker.port) == 0
        honest.publish(f"eldercare/v1/{band_a}/telemetry", own, qos=1).wait_for_publish(5)
        wait_until(lambda: any(t.endswith(f"{band_a}/telemetry") for _, t, _ in watcher.received))
        topics = [topic for _, topic, _ in watcher.received]
        assert f"eldercare/v1/{band_b}/telemetry" not in topics
    finally:
        for client in (forger, honest):
            client.loop_stop()
            client.disconnect()
        watcher.close()


def test_band_receives_only_its_own_commands(broker, two_bands):
    band_a, band_b = two_bands
    client = band_client(broker, band_a, "secret-a")
    seen: list[str] = []
    client.on_message = lambda _c, _u, msg: seen.append(msg.topic)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    uplink = make_client(broker.url("simulator"))  # may write bands' uplink topics
    downlink = make_client(broker.url("ingest"))  # may write bands' cmd topics
    try:
        assert connect_result(client, broker.port) == 0
        client.subscribe(f"eldercare/v1/{band_a}/cmd", 1)
        assert subscribed.wait(5)
        assert connect_result(uplink, broker.port) == 0
        assert connect_result(downlink, broker.port) == 0
        for sender, topic in (
            (downlink, f"eldercare/v1/{band_b}/cmd"),
            (uplink, f"eldercare/v1/{band_b}/telemetry"),
            (uplink, f"eldercare/v1/{band_a}/telemetry"),
            (downlink, f"eldercare/v1/{band_a}/cmd"),
        ):
            sender.publish(topic, b'{"v":1}', qos=1).wait_for_publish(5)
        wait_until(lambda: f"eldercare/v1/{band_a}/cmd" in seen, timeout_s=5)
        time.sleep(0.3)
        assert seen == [f"eldercare/v1/{band_a}/cmd"]
    finally:
        for c in (client, uplink, downlink):
            c.loop_stop()
            c.disconnect()


@pytest.mark.parametrize("topic_of_b", ["#", "eldercare/v1/+/cmd", "eldercare/v1/{b}/cmd"])
def test_band_subscribing_beyond_its_own_commands_is_refused(broker, two_bands, topic_of_b):
    """RabbitMQ refuses such a SUBSCRIBE by closing the connection: nothing of B arrives."""
    band_a, band_b = two_bands
    client = band_client(broker, band_a, "secret-a")
    seen: list[str] = []
    client.on_message = lambda _c, _u, msg: seen.append(msg.topic)
    downlink = make_client(broker.url("ingest"))
    try:
        assert connect_result(client, broker.port) == 0
        client.subscribe(topic_of_b.format(b=band_b), 1)
        wait_until(lambda: not client.is_connected(), timeout_s=5)
        assert connect_result(downlink, broker.port) == 0
        downlink.publish(f"eldercare/v1/{band_b}/cmd", b'{"v":1}', qos=1).wait_for_publish(5)
        time.sleep(0.5)
        assert seen == []
    finally:
        for c in (client, downlink):
            c.loop_stop()
            c.disconnect()


def test_band_cannot_impersonate_a_service_account_topic_set(broker, two_bands):
    """A band's credentials do not grant the ingest account's read access."""
    band_a, _ = two_bands
    spy = make_client(f"mqtt://{band_a}:secret-a@127.0.0.1:{broker.port}", client_id=band_a)
    seen = []
    spy.on_message = lambda _c, _u, msg: seen.append(msg.topic)
    assert connect_result(spy, broker.port) == 0
    spy.subscribe("eldercare/v1/+/telemetry", qos=1)
    wait_until(lambda: not spy.is_connected(), timeout_s=5)
    publisher = make_client(f"mqtt://simulator:dev-simulator-secret@127.0.0.1:{broker.port}")
    assert connect_result(publisher, broker.port) == 0
    publisher.publish("eldercare/v1/860000000000017/telemetry", b"{}", qos=1).wait_for_publish(5)
    time.sleep(0.5)
    assert seen == []
    for client in (spy, publisher):
        client.loop_stop()
        client.disconnect()


def test_gateway_account_speaks_for_bands_and_reads_their_commands(broker, two_bands):
    """The watch gateway publishes bands' uplink and reads their cmd topics."""
    band_a, _ = two_bands
    gateway = make_client(broker.url("gateway"))
    seen: list[str] = []
    gateway.on_message = lambda _c, _u, msg: seen.append(msg.topic)
    subscribed = threading.Event()
    gateway.on_subscribe = lambda *_: subscribed.set()
    uplink = CommandListener(broker.url("ingest"), "eldercare/v1/+/telemetry")
    downlink = make_client(broker.url("api"))
    try:
        assert connect_result(gateway, broker.port) == 0
        assert connect_result(downlink, broker.port) == 0
        gateway.subscribe("eldercare/v1/+/cmd", 1)
        assert subscribed.wait(5)
        now = int(time.time() * 1000)
        sample = orjson.dumps({"v": 1, "sent_at": now, "samples": [{"t": now, "hr": 70}]})
        topic = f"eldercare/v1/{band_a}/telemetry"
        gateway.publish(topic, sample, qos=1).wait_for_publish(5)
        downlink.publish(f"eldercare/v1/{band_a}/cmd", b'{"v":1}', qos=1).wait_for_publish(5)
        wait_until(lambda: any(t == topic for _, t, _ in uplink.received), timeout_s=5)
        wait_until(lambda: f"eldercare/v1/{band_a}/cmd" in seen, timeout_s=5)
        assert seen == [f"eldercare/v1/{band_a}/cmd"]
    finally:
        for c in (gateway, downlink):
            c.loop_stop()
            c.disconnect()
        uplink.close()


def test_gateway_account_cannot_read_bands_uplink(broker):
    """The gateway's account may not subscribe to what bands send: the broker closes it."""
    gateway = make_client(broker.url("gateway"))
    try:
        assert connect_result(gateway, broker.port) == 0
        gateway.subscribe("eldercare/v1/+/telemetry", 1)
        wait_until(lambda: not gateway.is_connected(), timeout_s=5)
    finally:
        gateway.loop_stop()
        gateway.disconnect()


def test_band_with_another_bands_imei_as_client_id_is_refused_and_that_band_stays_on(
    broker, two_bands
):
    """A's valid credentials with B's IMEI as client id: refused, and B is not knocked off."""
    band_a, band_b = two_bands
    victim = band_client(broker, band_b, "secret-b")
    dropped = threading.Event()
    impostor = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=band_b, protocol=mqtt.MQTTv311)
    impostor.username_pw_set(band_a, "secret-a")
    try:
        assert connect_result(victim, broker.port) == 0
        victim.on_disconnect = lambda *_a: dropped.set()
        assert connect_result(impostor, broker.port) != 0
        assert not dropped.wait(1.0), "the impostor knocked the real band off"
        assert victim.is_connected()
    finally:
        for client in (impostor, victim):
            client.loop_stop()
            client.disconnect()


@pytest.mark.parametrize("client_id", ["", "860000000000017x", "test-any"])
def test_band_must_use_its_imei_as_client_id(broker, two_bands, client_id):
    band_a, _ = two_bands
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.username_pw_set(band_a, "secret-a")
    try:
        assert connect_result(client, broker.port) != 0
    finally:
        client.loop_stop()
        client.disconnect()


def test_registered_band_without_credentials_and_revoked_band_are_refused(
    broker, two_bands, new_band_ids, db
):
    (unprovisioned,) = new_band_ids(1)  # a devices row with no password hash
    band_a, _ = two_bands
    db.execute("UPDATE devices SET state = 'revoked' WHERE device_id = %s", (band_a,))
    for device_id, password in ((unprovisioned, ""), (unprovisioned, "x"), (band_a, "secret-a")):
        client = band_client(broker, device_id, password)
        try:
            assert connect_result(client, broker.port) != 0, device_id
        finally:
            client.loop_stop()
            client.disconnect()


def test_band_credentials_do_not_open_amqp(broker, two_bands):
    """Bands speak MQTT only: the same credentials on the AMQP port are refused."""
    band_a, _ = two_bands
    url = f"amqp://{band_a}:secret-a@127.0.0.1:{broker.node.amqp_port}/%2F"
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(pika.URLParameters(url)).close()


def test_with_the_auth_service_down_connected_bands_publish_and_new_logins_wait(
    own_broker, new_band_ids
):
    """The README's availability promise, with the auth service stopped and started again."""
    band_a, band_b = new_band_ids(2)
    own_broker.add_band(band_a, "secret-a")
    own_broker.add_band(band_b, "secret-b")
    assert own_broker.auth is not None
    auth_port = own_broker.auth.http.server_address[1]
    watcher = CommandListener(own_broker.url("ingest"), "eldercare/v1/+/telemetry")
    connected = band_client(own_broker, band_a, "secret-a")
    newcomer = band_client(own_broker, band_b, "secret-b")
    try:
        assert connect_result(connected, own_broker.port) == 0
        topic = f"eldercare/v1/{band_a}/telemetry"
        connected.publish(topic, b'{"v":1,"n":1}', qos=1).wait_for_publish(5)
        own_broker.auth.stop()
        connected.publish(topic, b'{"v":1,"n":2}', qos=1).wait_for_publish(5)
        wait_until(lambda: any(p.endswith(b'"n":2}') for _, _, p in watcher.received), 5)
        assert connected.is_connected()
        assert connect_result(newcomer, own_broker.port) != 0
        newcomer.loop_stop()
        own_broker.auth = BrokerAuthServer(own_broker.database_url or "", port=auth_port)
        own_broker.auth.start()
        again = band_client(own_broker, band_b, "secret-b")
        assert connect_result(again, own_broker.port) == 0
        again.loop_stop()
        again.disconnect()
    finally:
        for client in (connected, newcomer):
            client.loop_stop()
            client.disconnect()
        watcher.close()


def test_setup_removes_band_accounts_left_from_before_the_auth_service(broker, two_bands):
    """An old internal account would be asked first and skip the client-id check."""
    band_a, band_b = two_bands
    legacy = Grant(topics.UPLINK_KINDS, (topics.DOWNLINK_KIND,), band="{username}")
    broker.admin.put_user(band_a, hash_password("old-secret"), legacy)
    bootstrap(broker.admin, DEV_SERVICE_ACCOUNTS, "ingest", 3)
    assert not broker.admin.user_exists(band_a)
    impostor = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=band_b, protocol=mqtt.MQTTv311)
    impostor.username_pw_set(band_a, "secret-a")
    own = band_client(broker, band_a, "secret-a")  # the provisioned password still works
    try:
        assert connect_result(impostor, broker.port) != 0
        assert connect_result(own, broker.port) == 0
    finally:
        for client in (impostor, own):
            client.loop_stop()
            client.disconnect()
