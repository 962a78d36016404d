"""Ingest's side of the broker: consume its durable queue over AMQP, ack after commit.

The queue is a quorum queue bound to every band's uplink topics, declared before the first
band publishes, so it holds what bands send while ingest is down or restarting and across
broker restarts. Several ingest processes consume it as competing consumers. A message is
acknowledged only after its rows committed; unacked ones return to the queue when the
connection dies. All pika calls run on the consumer's own thread, as pika requires; other
threads hand it work with `add_callback_threadsafe`.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from eldercare import topics
from eldercare.broker import ingest_queue_arguments

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes, int, int], None]  # topic, body, delivery tag, generation


class QueueConsumer:
    """A supervised AMQP consumer of one queue, reconnecting to any listed node."""

    def __init__(
        self,
        urls: list[str],
        queue: str,
        replicas: int,
        prefetch: int,
        on_message: OnMessage,
        name: str = "ingest",
    ) -> None:
        self.urls = urls
        self.queue = queue
        self.replicas = replicas
        self.prefetch = prefetch
        self.on_message = on_message
        self.name = name
        self.generation = 0  # bumps on every (re)connect: tags of an old channel are void
        self.connected = threading.Event()
        self._closing = threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._consumer_tag = ""
        self._thread = threading.Thread(target=self._run, name=f"{name}-amqp", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _parameters(self) -> list[pika.URLParameters]:
        urls = list(self.urls)
        random.shuffle(urls)  # spread a fleet of ingest processes over the nodes
        params = []
        for url in urls:
            p = pika.URLParameters(url)
            p.heartbeat = 15
            p.blocked_connection_timeout = 60
            p.connection_attempts = 1
            p.client_properties = {"connection_name": self.name}
            params.append(p)
        return params

    def _run(self) -> None:
        attempt = 0
        while not self._closing.is_set():
            try:
                self._consume()
                attempt = 0
            except pika.exceptions.AMQPError as exc:
                attempt += 1
                delay = random.uniform(0, 1.5 ** min(10, attempt))
                log.warning("broker connection lost (%r); reconnect in %.1fs", exc, delay)
                self._closing.wait(delay)
            finally:
                self.connected.clear()
                self.generation += 1
                self._channel = None
                self._connection = None

    def _consume(self) -> None:
        connection = pika.BlockingConnection(self._parameters())
        try:
            channel = connection.channel()
            channel.queue_declare(
                self.queue, durable=True, arguments=ingest_queue_arguments(self.replicas)
            )
            for key in topics.uplink_bindings():
                channel.queue_bind(self.queue, topics.EXCHANGE, routing_key=key)
            channel.basic_qos(prefetch_count=self.prefetch)
            generation = self.generation

            def deliver(_ch, method, _props, body: bytes) -> None:
                topic = topics.topic_of(method.routing_key)
                self.on_message(topic, body, method.delivery_tag, generation)

            self._consumer_tag = channel.basic_consume(self.queue, deliver)
            self._connection, self._channel = connection, channel
            self.connected.set()
            log.info("consuming %s (connection generation %s)", self.queue, generation)
            while not self._closing.is_set():
                connection.process_data_events(time_limit=0.2)
            connection.process_data_events(time_limit=0)  # acks handed over before stop
        finally:
            if connection.is_open:
                try:
                    connection.close()
                except pika.exceptions.AMQPError:
                    log.debug("closing a broken connection failed", exc_info=True)

    def _on_own_thread(self, work: Callable[[], None]) -> bool:
        """Run `work` on the consumer thread; False if there is no connection now."""
        connection = self._connection
        if connection is None:
            return False
        try:
            connection.add_callback_threadsafe(work)
        except pika.exceptions.AMQPError:
            return False
        return True

    def ack_through(self, delivery_tag: int, generation: int) -> None:
        """Acknowledge every message up to `delivery_tag` of connection `generation`.

        Messages of an older connection went back to the queue when it closed: their acks
        must not be sent (the tags would name other messages on the new channel).
        """

        def ack() -> None:
            channel = self._channel
            if channel is not None and channel.is_open and generation == self.generation:
                channel.basic_ack(delivery_tag=delivery_tag, multiple=True)

        self._on_own_thread(ack)

    def publish(self, topic: str, body: bytes) -> bool:
        """Publish on an MQTT topic (through amq.topic), persistent; False if disconnected."""
        key = topics.routing_key(topic)
        props = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)

        def send() -> None:
            channel = self._channel
            if channel is not None and channel.is_open:
                channel.basic_publish(topics.EXCHANGE, key, body, props)

        return self._on_own_thread(send)

    def pause(self) -> None:
        """Stop receiving new messages (the connection stays up for acks)."""

        def cancel() -> None:
            channel = self._channel
            if channel is not None and channel.is_open:
                channel.basic_cancel(self._consumer_tag)

        self._on_own_thread(cancel)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Close the connection; what was not acked goes back to the queue."""
        self._closing.set()
        self._thread.join(timeout=timeout_s)
