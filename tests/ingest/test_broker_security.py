"""The broker lets a band publish only under its own topics and read only its own cmd."""

from __future__ import annotations

import threading
import time

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

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
