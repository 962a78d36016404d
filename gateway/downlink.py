"""The bands' commands as the gateway receives them: an MQTT subscription to every `cmd`.

Speaks MQTT 3.1.1 through paho on its own network thread. The session is persistent (clean
session off, fixed client id), so commands for bands sent while the gateway was down are
delivered when it returns. Uplinks go the other way in gateway.handover.
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

# (device_id, command, done), on the event loop; `done()` acknowledges the command to the
# broker once it reached the watch or the database, so a crash before then loses nothing.
CommandHandler = Callable[[str, dict, Callable[[], None]], None]


class CommandFeed:
    """A paho client on its own network thread, handing commands to one asyncio loop."""

    def __init__(self, target: MqttTarget, client_id: str, on_command: CommandHandler) -> None:
        self._target = target
        self._on_command = on_command
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connected = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=False,
            manual_ack=True,
        )
        client.username_pw_set(target.username, target.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
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

    # --- paho's network thread ------------------------------------------------------------

    def _on_connect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            log.error("broker refused the gateway: %s", reason_code)
            return
        client.subscribe(CMD_TOPIC, qos=1)

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _props) -> None:
        if any(code.is_failure for code in reason_codes):
            log.error("broker refused the gateway's command subscription: %s", reason_codes)
            return
        self.connected.set()  # commands published from now on reach the gateway
        log.info("gateway subscribed to bands' commands")

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props) -> None:
        self.connected.clear()
        log.warning("gateway disconnected from the broker: %s; reconnecting", reason_code)

    def _on_message(self, client, _userdata, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")

        def done() -> None:
            client.ack(msg.mid, msg.qos)

        try:
            command = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            log.warning("command for %s is not JSON; ignored", parts[2])
            done()
            return
        if len(parts) == 4 and isinstance(command, dict) and self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_command, parts[2], command, done)
        else:
            done()
