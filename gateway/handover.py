"""The gateway's hand-over of bands' uplinks to the broker: AMQP with publisher confirms.

A message is handed over when the broker confirmed it (after ingest's quorum queue took
it): `publish` returns a future that resolves then. Messages go to `amq.topic` with the
routing key of the band's MQTT topic, so they reach ingest's queue exactly as a band's
own MQTT publish does, under the same per-kind topic permissions of the gateway's account.

Why not MQTT: paho walks its whole in-flight table on every PUBACK and hands each one
across threads, which capped the gateway near 2,600 frames/s; here one confirm can cover
thousands of messages (`multiple`), and pika runs on the gateway's own event loop.
Unconfirmed messages are published again after a reconnect (at least once; ingest
stores a reading once).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import deque
from dataclasses import dataclass

import orjson
import pika
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.spec import Basic

from eldercare import topics

log = logging.getLogger(__name__)

PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
ONE_LEVEL = re.compile(r"[^./*#+]+")  # one topic level, no wildcard: a single band


@dataclass(slots=True)
class _Unconfirmed:
    routing_key: str
    body: bytes
    future: asyncio.Future
    tag: int = 0  # the channel's delivery tag once published


class HandOver:
    """One AMQP connection and confirm-mode channel on the gateway's event loop."""

    def __init__(self, urls: list[str], name: str = "gateway") -> None:
        self._urls = urls
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: AsyncioConnection | None = None
        self._channel = None
        self._next_tag = 1
        self._sent: deque[_Unconfirmed] = deque()  # published, not yet confirmed, tag order
        self._waiting: deque[_Unconfirmed] = deque()  # not yet published (no channel)
        self._attempt = 0
        self._stopping = False
        self.connected = asyncio.Event()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect (retrying in the background with backoff)."""
        self._loop = loop
        self._connect()

    def stop(self) -> None:
        self._stopping = True
        if self._connection is not None and not self._connection.is_closed:
            self._connection.close()

    def publish(self, device_id: str, kind: str, payload: dict) -> asyncio.Future:
        """Publish persistently; the future resolves when the broker confirmed the message.

        Call on the event loop; a future rather than a coroutine, so a frame's messages go
        out together without a task each.
        """
        assert self._loop is not None
        if not ONE_LEVEL.fullmatch(device_id):  # a routing key must name exactly this band
            raise ValueError(f"not a band id: {device_id!r}")
        message = _Unconfirmed(
            topics.routing_key(topics.uplink(device_id, kind)),
            orjson.dumps(payload),
            self._loop.create_future(),
        )
        if self._channel is None:
            self._waiting.append(message)
        else:
            self._send(message)
        return message.future

    # --- connection life ----------------------------------------------------------------

    def _parameters(self) -> pika.URLParameters:
        params = pika.URLParameters(random.choice(self._urls))
        params.heartbeat = 15
        params.connection_attempts = 1
        params.client_properties = {"connection_name": self._name}
        return params

    def _connect(self) -> None:
        if self._stopping:
            return
        self._connection = AsyncioConnection(
            self._parameters(),
            on_open_callback=lambda conn: conn.channel(on_open_callback=self._on_channel),
            on_open_error_callback=lambda _conn, exc: self._retry(exc),
            on_close_callback=lambda _conn, exc: self._retry(exc),
            custom_ioloop=self._loop,
        )

    def _retry(self, reason: object) -> None:
        self._channel = None
        self.connected.clear()
        # Whatever the broker did not confirm goes out again, first and in order.
        self._waiting.extendleft(reversed(self._sent))
        self._sent.clear()
        if self._stopping:
            return
        self._attempt += 1
        delay = random.uniform(0, 1.5 ** min(10, self._attempt))
        log.warning("gateway lost the broker (%s); reconnecting in %.1f s", reason, delay)
        assert self._loop is not None
        self._loop.call_later(delay, self._connect)

    def _on_channel(self, channel) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        channel.confirm_delivery(self._on_confirm, callback=lambda _frame: self._ready(channel))

    def _on_channel_closed(self, _channel, reason: Exception) -> None:
        log.warning("gateway's broker channel closed: %s", reason)
        if self._connection is not None and self._connection.is_open:
            self._connection.close()

    def _ready(self, channel) -> None:
        self._channel, self._next_tag = channel, 1
        self.connected.set()
        log.info("gateway connected to the broker")
        waiting, self._waiting = self._waiting, deque()
        for message in waiting:
            if not message.future.done():
                self._send(message)

    def _send(self, message: _Unconfirmed) -> None:
        assert self._channel is not None
        self._channel.basic_publish(topics.EXCHANGE, message.routing_key, message.body, PERSISTENT)
        message.tag, self._next_tag = self._next_tag, self._next_tag + 1
        self._sent.append(message)

    def _on_confirm(self, frame) -> None:
        method = frame.method
        confirmed = isinstance(method, Basic.Ack)
        if confirmed:  # the backoff resets only once the broker takes messages again
            self._attempt = 0
        if method.multiple:  # every message up to this tag
            while self._sent and self._sent[0].tag <= method.delivery_tag:
                self._settle(self._sent.popleft(), confirmed)
        elif self._sent and self._sent[0].tag == method.delivery_tag:
            self._settle(self._sent.popleft(), confirmed)
        else:  # a single confirm out of order: rare
            for message in self._sent:
                if message.tag == method.delivery_tag:
                    self._sent.remove(message)
                    self._settle(message, confirmed)
                    break

    def _settle(self, message: _Unconfirmed, confirmed: bool) -> None:
        if confirmed:
            if not message.future.done():
                message.future.set_result(None)
        else:  # the broker could not take it: try again
            log.warning("broker refused an uplink (%s); publishing it again", message.routing_key)
            self._send(message)
