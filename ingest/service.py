"""`eldercare ingest`: MQTT (persistent session, shared subscription) -> TimescaleDB.

A message is acknowledged to the broker only after its rows are committed, so a crash at
any point loses nothing: the broker redelivers, and idempotent inserts absorb the repeats.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
import uuid

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from eldercare.cache import connect_redis
from eldercare.db import connect
from eldercare.settings import Settings
from eldercare.status_http import stores_unavailable
from ingest.buffer import Buffer, Received
from ingest.hot_state import HotState
from ingest.known_devices import KnownDevices
from ingest.metrics import IngestMetrics
from ingest.parse import parse_message
from ingest.store import (
    StoreResult,
    prepare_connection,
    reject_unknown_devices,
    store_batch,
    store_isolating,
)
from ingest.writer import limits_from

log = logging.getLogger(__name__)

UPLINK_KINDS = ("telemetry", "location", "event", "status")
REDIS_RETRY_AFTER_S = 10.0


def uplink_subscriptions(share_group: str) -> list[tuple[str, int]]:
    """Shared subscriptions, so N ingest processes split the bands' messages."""
    return [(f"$share/{share_group}/eldercare/v1/+/{kind}", 1) for kind in UPLINK_KINDS]


class IngestService:
    """One ingest process: receive, parse, batch, commit, ack, then fan out."""

    def __init__(self, settings: Settings, metrics: IngestMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or IngestMetrics()
        self.limits = limits_from(settings)
        self.buffer = Buffer(
            settings.ingest_batch_max_messages, settings.ingest_batch_max_age_ms / 1000
        )
        self.generation = 0
        self.last_message_at = time.monotonic()
        self.stopping = threading.Event()
        self.client = self._make_client()
        self._conn: psycopg.Connection | None = None
        self._known = KnownDevices()
        self._hot = HotState(connect_redis(settings), settings.redis_prefix)
        self._redis_skip_until = 0.0

    # --- MQTT side: runs on paho's network thread, must stay cheap ---------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.ingest_client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        target = self.settings.mqtt
        client.username_pw_set(target.username, target.password)
        client.max_inflight_messages_set(self.settings.ingest_receive_maximum)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def health(self) -> list[str]:
        """What does not answer: 'broker', 'database', 'redis' (for GET /health)."""
        broker = [] if self.client.is_connected() else ["broker"]
        return broker + stores_unavailable(self.settings)

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.ingest_session_expiry_s
        props.ReceiveMaximum = self.settings.ingest_receive_maximum
        return props

    def _on_connect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            log.error("broker refused ingest: %s", reason_code)
            return
        self.generation += 1
        client.subscribe(uplink_subscriptions(self.settings.ingest_share_group))
        log.info("connected to broker (session generation %s)", self.generation)

    def _on_disconnect(self, client, _userdata, _flags, reason_code, _props) -> None:
        self.generation += 1  # acks for messages of the old connection must not be sent
        if not self.stopping.is_set():
            log.warning("disconnected from broker: %s; reconnecting", reason_code)
            # paho backs off by itself; a random floor spreads a fleet of ingest processes.
            client.reconnect_delay_set(min_delay=random.uniform(0.5, 1.5), max_delay=30)

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        parsed = parse_message(
            msg.topic, msg.payload, received_ms=int(time.time() * 1000), limits=self.limits
        )
        self.metrics.message_in(parsed.kind)
        self.buffer.add(Received(msg.mid, msg.qos, self.generation, parsed))
        self.last_message_at = time.monotonic()

    # --- storage side: the flush thread ----------------------------------------------------

    def flush_forever(self) -> None:
        """Commit batches until asked to stop, then commit what is left."""
        while not self.stopping.is_set():
            self.flush_once(timeout_s=0.5)
        while len(self.buffer):
            self.flush_once(timeout_s=0)

    def flush_once(self, timeout_s: float) -> int:
        """Take one due batch, commit it (retrying until it is), ack it; return its size."""
        batch = self.buffer.take(timeout_s)
        if not batch:
            return 0
        self.metrics.buffered.set(len(self.buffer))
        started = time.monotonic()
        result = self._store_with_retry([r.message for r in batch])
        if result is None:
            return 0  # stopping while the database is unreachable: the broker keeps them
        committed_ms = int(time.time() * 1000)
        self.metrics.batch_latency.observe(time.monotonic() - started)
        self._ack(batch)
        self._after_commit(batch, result, committed_ms)
        return len(batch)

    def _store_with_retry(self, messages) -> StoreResult | None:
        attempt = 0
        while True:
            try:
                conn = self._connection()
                reject_unknown_devices(messages, self._known.ensure(conn, messages))
                try:
                    return store_batch(conn, messages)
                except psycopg.OperationalError:
                    raise
                except psycopg.Error:
                    # Input the database refuses must not stop ingest (the broker would
                    # redeliver the same batch forever): find it and dead-letter it.
                    log.exception("database refused a batch; storing message by message")
                    return store_isolating(conn, messages)
            except psycopg.OperationalError as exc:
                attempt += 1
                self.metrics.store_failures.inc()
                self._drop_connection()
                delay = random.uniform(0, 1.5 ** min(10, attempt))
                log.warning("database unavailable (%s); retry %s in %.1fs", exc, attempt, delay)
                if self.stopping.wait(delay) and attempt > 3:
                    return None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.settings)
            prepare_connection(self._conn)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                log.debug("closing a broken connection failed", exc_info=True)
        self._conn = None

    def _ack(self, batch: list[Received]) -> None:
        generation = self.generation
        for item in batch:  # arrival order
            if item.qos > 0 and item.generation == generation:
                self.client.ack(item.mid, item.qos)

    def _after_commit(self, batch: list[Received], result: StoreResult, committed_ms: int) -> None:
        for device_id, event_id in result.urgent_events:
            self._send_sos_ack(device_id, event_id)
        self._count(batch, result, committed_ms)
        self._publish_hot_state(batch, result, committed_ms)

    def _publish_hot_state(self, batch: list[Received], result: StoreResult, committed_ms: int):
        """Redis is a cache of committed rows: when it fails, skip it for a while rather than
        let a hung cache slow down storage (the engine also sweeps the tables)."""
        if time.monotonic() < self._redis_skip_until:
            return
        try:
            self._hot.publish([r.message for r in batch], result, committed_ms)
        except Exception:
            self._redis_skip_until = time.monotonic() + REDIS_RETRY_AFTER_S
            log.exception(
                "updating Redis hot state failed; rows are stored; skipping Redis for %ss",
                REDIS_RETRY_AFTER_S,
            )

    def _send_sos_ack(self, device_id: str, event_id: str) -> None:
        payload = orjson.dumps(
            {"v": 1, "id": uuid.uuid4().hex[:16], "type": "sos_ack", "event_id": event_id}
        )
        self.client.publish(f"eldercare/v1/{device_id}/cmd", payload, qos=1)

    def _count(self, batch: list[Received], result: StoreResult, committed_ms: int) -> None:
        m = self.metrics
        for table, n in result.rows_stored.items():
            m.rows_stored.labels(table).inc(n)
        for table, n in result.duplicates.items():
            m.duplicates.labels(table).inc(n)
        for reason, n in result.dead_letters.items():
            m.dead_letters.labels(reason).inc(n)
        sent = [item.message.sent_at_ms for item in batch if item.message.sent_at_ms]
        if sent:
            m.broker_lag.observe(max(0.0, (committed_ms - min(sent)) / 1000))

    # --- lifecycle ---------------------------------------------------------------------------

    def connect(self, blocking: bool) -> None:
        """Resume the persistent session (never clean-start) and run paho's network loop.

        Blocking raises at once if the broker is unreachable; otherwise paho keeps retrying.
        """
        target = self.settings.mqtt
        connect = self.client.connect if blocking else self.client.connect_async
        connect(
            target.host,
            target.port,
            keepalive=30,
            clean_start=False,
            properties=self._connect_properties(),
        )
        self.client.loop_start()

    def start(self) -> threading.Thread:
        """Connect and start receiving; returns the flush thread."""
        self.connect(blocking=False)
        flusher = threading.Thread(target=self.flush_forever, name="ingest-flush", daemon=True)
        flusher.start()
        return flusher

    def stop(self, flusher: threading.Thread) -> None:
        """Stop receiving, commit and ack what was received, then disconnect."""
        self.stopping.set()
        flusher.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()
        self._drop_connection()

    def retire(self, flusher: threading.Thread, idle_s: float = 3.0) -> None:
        """Drain this instance's queued messages, leave the share group, end the session.

        For an instance removed for good: otherwise the broker keeps queueing its share of
        messages for a session nobody will resume.
        """
        while time.monotonic() - self.last_message_at < idle_s or len(self.buffer):
            time.sleep(0.2)
        left = threading.Event()
        self.client.on_unsubscribe = lambda *_: left.set()
        topics = [topic for topic, _ in uplink_subscriptions(self.settings.ingest_share_group)]
        self.client.unsubscribe(topics)
        left.wait(10)
        time.sleep(0.5)  # anything delivered before the UNSUBACK is in the buffer now
        self.stopping.set()
        flusher.join(timeout=30)
        props = Properties(PacketTypes.DISCONNECT)
        props.SessionExpiryInterval = 0
        self.client.disconnect(properties=props)
        self.client.loop_stop()
        self._drop_connection()


def declare_session(settings: Settings, timeout_s: float = 10.0) -> None:
    """Create ingest's persistent session and shared subscription, then leave.

    Until ingest has subscribed once, the broker has nobody to queue bands' messages for;
    declaring the session first makes even the very first start of a system lossless.
    """
    service = IngestService(settings)
    subscribed = threading.Event()
    service.client.on_subscribe = lambda *_: subscribed.set()
    service.connect(blocking=True)
    try:
        if not subscribed.wait(timeout_s):
            raise RuntimeError("broker did not confirm ingest's subscription")
    finally:
        service.stopping.set()
        service.client.disconnect()
        service.client.loop_stop()


def retire_ingest(settings: Settings) -> int:
    """`eldercare ingest --retire`: drain and remove this client id's session."""
    service = IngestService(settings)
    flusher = service.start()
    service.retire(flusher)
    log.info("ingest %s retired: its session is gone", settings.ingest_client_id)
    return 0


def run_ingest(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM."""
    service = IngestService(settings)
    service.metrics.serve(
        settings.ingest_metrics_port, settings.ingest_metrics_host, health=service.health
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    flusher = service.start()
    log.info("ingest %s running", settings.ingest_client_id)
    while not stop.wait(1.0):
        if not flusher.is_alive():
            log.error("flush thread died; exiting so the supervisor restarts ingest")
            return 1
    service.stop(flusher)
    log.info("ingest stopped cleanly")
    return 0
