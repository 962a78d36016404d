"""The gateway's side of the broker: publish bands' uplink (QoS 1), receive their commands.

Speaks MQTT 3.1.1 through paho only, so it works with any broker that speaks it. A message
counts as handed over when the broker's PUBACK arrived: `publish` returns an awaitable
that resolves then. The session is persistent (clean session off, fixed client id), so
commands for bands sent while the gateway was down are delivered when it returns.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from eldercare import topics
from eldercare.settings import MqttTarget

log = logging.getLogger(__name__)

CMD_TOPIC = topics.cmd(topics.ANY_BAND)
MAX_INFLIGHT = 2000

CommandHandler = Callable[[str, dict], None]  # (device_id, command), on the event loop


class HandOver:
    """A paho client on its own network thread, bridged to one asyncio loop."""

    def __init__(self, target: MqttTarget, client_id: str, on_command: CommandHandler) -> None:
        self._target = target
        self._on_command = on_command
        self._loop: asyncio.AbstractEventLoop | None = None
        # mid -> future; touched only on the event loop. A PUBACK is passed to the loop with
        # call_soon_threadsafe, so it is handled after `publish` registered its mid.
        self._waiting: dict[int, asyncio.Future] = {}
        self._acks: list[int] = []  # PUBACKs not yet passed to the loop; guarded by _acks_lock
        self._acks_lock = threading.Lock()  # never held while calling into paho
        self.connected = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
        client.username_pw_set(target.username, target.password)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect (retrying in the background) and start the network thread."""
        self._loop = loop
        self._client.reconnect_delay_set(min_delay=random.randint(1, 2), max_delay=30)
        self._client.connect_async(self._target.host, self._target.port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, device_id: str, kind: str, payload: dict) -> asyncio.Future:
        """Publish at QoS 1 (retained for status); the future resolves on the broker's PUBACK.

        Call on the event loop; a future rather than a coroutine, so a frame's messages go
        out together without a task each.
        """
        assert self._loop is not None
        future = self._loop.create_future()
        body = orjson.dumps(payload)
        info = self._client.publish(
            topics.uplink(device_id, kind), body, qos=1, retain=kind == "status"
        )
        self._waiting[info.mid] = future
        return future

    # --- paho's network thread ------------------------------------------------------------

    def _on_connect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            log.error("broker refused the gateway: %s", reason_code)
            return
        client.subscribe(CMD_TOPIC, qos=1)
        self.connected.set()
        log.info("gateway connected to the broker")

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props) -> None:
        self.connected.clear()
        log.warning("gateway disconnected from the broker: %s; reconnecting", reason_code)

    def _on_publish(self, _client, _userdata, mid, _reason_code, _props) -> None:
        # PUBACKs are handed to the loop in bunches: one wake-up, not one per message.
        with self._acks_lock:
            self._acks.append(mid)
            first = len(self._acks) == 1
        if first:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._drain_acks)

    def _drain_acks(self) -> None:
        with self._acks_lock:
            acks, self._acks = self._acks, []
        for mid in acks:
            future = self._waiting.pop(mid, None)
            if future is not None and not future.done():
                future.set_result(None)

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        try:
            command = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            log.warning("command for %s is not JSON; ignored", parts[2])
            return
        if len(parts) == 4 and isinstance(command, dict) and self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_command, parts[2], command)
