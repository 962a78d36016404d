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
        protocol=mqtt.MQTTv311,
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


class CountingPublisher:
    """Publishes QoS 1 through broker restarts and records which messages got a PUBACK.

    `acked` holds the keys of messages the broker acknowledged: what a band may forget.
    """

    def __init__(
        self, url: str, client_id: str | None = None, other_ports: tuple[int, ...] = ()
    ) -> None:
        target = parse_mqtt_url(url)
        self.ports = [target.port, *other_ports]  # cluster nodes: move on when one fails
        self.acked: set[object] = set()
        self.sent = 0
        self._keys: dict[int, object] = {}
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self.client = make_client(url, client_id)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=0.2, max_delay=2)
        self.client.on_publish = self._on_publish
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.connect(target.host, target.port, keepalive=10)
        self.client.loop_start()

    def _on_publish(self, _client, _userdata, mid, reason_code, _props) -> None:
        if reason_code.is_failure:
            return
        with self._lock:
            key = self._keys.pop(mid, None)
            if key is None:
                self._early.add(mid)  # acked before publish() learnt its mid
            else:
                self.acked.add(key)

    def _on_disconnect(self, client, _userdata, _flags, _reason_code, _props) -> None:
        self._next_node(client)

    def _on_connect_fail(self, client, _userdata) -> None:
        # paho calls only this, not on_disconnect, when a reconnect cannot open the socket
        # (a dead node): without it the publisher would retry that node for ever.
        self._next_node(client)

    def _next_node(self, client) -> None:
        if len(self.ports) > 1:
            self.ports.append(self.ports.pop(0))
            # paho's `port` setter refuses while the old socket is being torn down; its
            # reconnect reads this attribute.
            client._port = self.ports[0]

    def publish(self, topic: str, payload: bytes, key: object) -> None:
        # Not under our lock: paho's network thread holds its own while calling _on_publish.
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.acked.add(key)
            else:
                self._keys[info.mid] = key
        self.sent += 1

    def pending(self) -> int:
        with self._lock:
            return len(self._keys)

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
