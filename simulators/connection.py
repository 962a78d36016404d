"""Opening MQTT 3.1.1 connections for simulated bands and fleets (paho-mqtt 2.x).

MQTT 3.1.1, which the firmware contract allows and the project's broker (RabbitMQ's MQTT
plugin) speaks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class ConnectionFailed(RuntimeError):
    """The broker refused or did not answer; carries the reason."""

    def __init__(self, client_id: str, reason: str) -> None:
        super().__init__(f"MQTT connection {client_id!r} failed: {reason}")
        self.client_id = client_id
        self.reason = reason


def make_client(
    client_id: str, username: str, password: str | None, *, persistent: bool = False
) -> mqtt.Client:
    """A paho client speaking MQTT 3.1.1; `persistent` keeps its session (clean session 0)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=not persistent,
    )
    client.username_pw_set(username, password)
    return client


def connect_and_wait(
    client: mqtt.Client,
    host: str,
    port: int,
    *,
    keepalive_s: int = 60,
    timeout_s: float = 10.0,
) -> None:
    """Connect, start the network thread and block until CONNACK (raise if refused)."""
    connected = threading.Event()
    outcome: dict[str, str] = {}
    previous: Callable[..., None] | None = client.on_connect  # the caller's own handler

    def on_connect(c, userdata, flags, reason_code, properties) -> None:
        outcome["reason"] = str(reason_code)
        if not reason_code.is_failure:
            outcome["ok"] = "yes"
        connected.set()
        if previous is not None:
            previous(c, userdata, flags, reason_code, properties)

    client.on_connect = on_connect
    client.connect(host, port, keepalive=keepalive_s)
    client.loop_start()
    if not connected.wait(timeout_s) or "ok" not in outcome:
        client.loop_stop()
        client.on_connect = previous
        raise ConnectionFailed(client._client_id.decode(), outcome.get("reason", "no CONNACK"))
    client.on_connect = previous
