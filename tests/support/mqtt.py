"""Small MQTT helpers for tests: a publisher that waits for PUBACKs, a command listener."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from eldercare.settings import parse_mqtt_url
from tests.support.wait import wait_until  # noqa: F401  (re-exported for the tests)


def make_client(url: str, client_id: str | None = None, **kwargs) -> mqtt.Client:
    target = parse_mqtt_url(url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
        **kwargs,
    )
    client.username_pw_set(target.username, target.password)
    return client


class Publisher:
    """Publishes QoS 1 messages and can wait until the broker acknowledged all of them."""

    def __init__(self, url: str, client_id: str | None = None) -> None:
        target = parse_mqtt_url(url)
        self.client = make_client(url, client_id)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        self._infos: list[mqtt.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        self._infos.append(info)

    def wait_all_acked(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        for info in self._infos:
            info.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
        self._infos.clear()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class CommandListener:
    """Subscribes to bands' cmd topics (as the simulator account) and records what arrives."""

    def __init__(self, url: str, topic: str = "eldercare/v1/+/cmd") -> None:
        target = parse_mqtt_url(url)
        self.received: list[tuple[float, str, bytes]] = []
        self._subscribed = threading.Event()
        self.client = make_client(url)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect(target.host, target.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("subscribe did not complete")

    def _on_message(self, _client, _userdata, msg) -> None:
        self.received.append((time.monotonic(), msg.topic, msg.payload))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
