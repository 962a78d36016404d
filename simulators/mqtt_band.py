"""One band on its own MQTT connection, behaving as the firmware contract requires.

Client id = username = device_id; Last Will `{"v":1,"online":false}` retained at QoS 1 on its
status topic; subscribed to its `cmd` topic; an `sos` or `fall` is re-sent with the same id
every `resend_period_s` until an `sos_ack` for that id arrives.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import orjson
import paho.mqtt.client as mqtt

from simulators.connection import connect_and_wait, make_client
from simulators.messages import LAST_WILL, SimMessage, epoch_ms, event_body, topic_for

log = logging.getLogger(__name__)


class MqttBand:
    """A single simulated band with its own credentials and connection."""

    def __init__(
        self,
        device_id: str,
        password: str,
        *,
        host: str,
        port: int,
        resend_period_s: float = 10.0,
        keepalive_s: int = 60,
        battery_pct: int = 80,
    ) -> None:
        self.device_id = device_id
        self.resend_period_s = resend_period_s
        self.battery_pct = battery_pct
        self._host, self._port, self._keepalive_s = host, port, keepalive_s
        self._lock = threading.Lock()
        self._pending: dict[str, dict] = {}  # alarm id -> event body, until acked
        self._next_send: dict[str, float] = {}
        self._sends: dict[str, list[datetime]] = {}
        self._acks: dict[str, datetime] = {}
        self._acked = threading.Condition(self._lock)
        self.commands: list[dict] = []
        self._seq = 0
        self._stop = threading.Event()
        self._client = make_client(device_id, device_id, password, persistent=True)
        self._client.will_set(self.topic("status"), orjson.dumps(LAST_WILL), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._resender = threading.Thread(target=self._resend_loop, name=f"resend-{device_id}")

    def topic(self, kind: str) -> str:
        """This band's topic for a message kind, or `cmd`."""
        return topic_for(self.device_id, kind)

    def start(self, timeout_s: float = 10.0) -> MqttBand:
        """Connect (raising ConnectionFailed if refused) and start re-sending alarms."""
        connect_and_wait(
            self._client,
            self._host,
            self._port,
            keepalive_s=self._keepalive_s,
            timeout_s=timeout_s,
        )
        self._resender.start()
        return self

    def stop(self, *, send_will: bool = False) -> None:
        """Disconnect; with `send_will` the broker publishes the Last Will as on a crash."""
        self._stop.set()
        if self._resender.is_alive():
            self._resender.join()
        if send_will:
            # MQTT 3.1.1 has no "disconnect with will": vanish as a dead battery would.
            self._client.loop_stop()
            sock = self._client.socket()
            if sock is not None:
                sock.close()
            return
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttBand:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def publish(self, message: SimMessage) -> mqtt.MQTTMessageInfo:
        """Publish a simulated message of this band (status retained), QoS 1."""
        if message.device_id != self.device_id:
            raise ValueError("a band may publish only under its own device_id")
        retain = message.kind == "status"
        return self._client.publish(message.topic, message.payload, qos=1, retain=retain)

    def raise_alarm(self, event_type: str = "sos", *, position: dict | None = None) -> str:
        """Send an sos or fall event now and keep re-sending it until acked; return its id."""
        if event_type not in ("sos", "fall"):
            raise ValueError(f"not an alarm: {event_type!r}")
        with self._lock:
            self._seq += 1
            event_id = f"sim-{int(time.time())}-{self._seq}"
            self._pending[event_id] = {
                "id": event_id,
                "t": epoch_ms(_now()),
                "type": event_type,
                **(position or {}),
            }
            self._sends[event_id] = []
            self._next_send[event_id] = time.monotonic()
        self._send_due_alarms()
        return event_id

    def sends(self, event_id: str) -> list[datetime]:
        """When the alarm with this id was sent (first send and every re-send)."""
        with self._lock:
            return list(self._sends.get(event_id, []))

    def acked_at(self, event_id: str) -> datetime | None:
        """When the sos_ack for this alarm arrived, or None."""
        with self._lock:
            return self._acks.get(event_id)

    def wait_for_ack(self, event_id: str, timeout_s: float) -> bool:
        """Block until the alarm is acknowledged or the timeout passes."""
        with self._acked:
            return self._acked.wait_for(lambda: event_id in self._acks, timeout_s)

    # -- network thread -------------------------------------------------------------------

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.warning("band %s refused by broker: %s", self.device_id, reason_code)
            return
        client.subscribe(self.topic("cmd"), qos=1)
        heartbeat = {
            "v": 1,
            "sent_at": epoch_ms(_now()),
            "online": True,
            "battery": self.battery_pct,
            "charging": False,
        }
        client.publish(self.topic("status"), orjson.dumps(heartbeat), qos=1, retain=True)

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        try:
            command = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            log.warning("band %s ignored a command that is not JSON", self.device_id)
            return
        if not isinstance(command, dict) or command.get("v") != 1:
            log.warning("band %s ignored a command it does not understand", self.device_id)
            return
        with self._acked:
            self.commands.append(command)
            event_id = command.get("event_id")
            if command.get("type") == "sos_ack" and event_id in self._sends:
                self._pending.pop(event_id, None)
                self._acks.setdefault(event_id, _now())
                self._acked.notify_all()

    # -- re-sending -----------------------------------------------------------------------

    def _resend_loop(self) -> None:
        while not self._stop.wait(0.05):
            self._send_due_alarms()

    def _send_due_alarms(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [
                dict(body)
                for event_id, body in self._pending.items()
                if self._next_send[event_id] <= now
            ]
            for body in due:
                self._next_send[body["id"]] = now + self.resend_period_s
                self._sends[body["id"]].append(_now())
        for body in due:
            payload = orjson.dumps(event_body(epoch_ms(_now()), body))
            self._client.publish(self.topic("event"), payload, qos=1)


def _now() -> datetime:
    return datetime.now(UTC)
