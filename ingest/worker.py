"""`eldercare ingest`: the broker's durable ingest queue (AMQP) -> TimescaleDB.

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
import psycopg

from eldercare import topics
from eldercare.db import connect
from eldercare.redis_client import connect_redis
from eldercare.settings import Settings
from eldercare.status_http import stores_unavailable
from ingest.buffer import Buffer, Received
from ingest.consumer import QueueConsumer
from ingest.hot_state import HotState
from ingest.known_devices import KnownDevices
from ingest.metrics import IngestMetrics
from ingest.parse import limits_from, parse_message
from ingest.store import (
    StoreResult,
    prepare_connection,
    reject_unknown_devices,
    store_batch,
    store_isolating,
)

log = logging.getLogger(__name__)

REDIS_RETRY_AFTER_S = 10.0


class IngestService:
    """One ingest process: receive, parse, batch, commit, ack, then fan out."""

    def __init__(self, settings: Settings, metrics: IngestMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or IngestMetrics()
        self.limits = limits_from(settings)
        self.buffer = Buffer(
            settings.ingest_batch_max_messages, settings.ingest_batch_max_age_ms / 1000
        )
        self.last_message_at = time.monotonic()
        self.stopping = threading.Event()
        self.consumer = QueueConsumer(
            settings.amqp_urls,
            settings.ingest_queue,
            settings.ingest_queue_replicas,
            settings.ingest_receive_maximum,
            self._on_message,
            name=settings.ingest_client_id,
        )
        self._conn: psycopg.Connection | None = None
        self._known = KnownDevices()
        self._hot = HotState(
            connect_redis(settings), settings.redis_prefix, settings.alerting_shard_count
        )
        self._redis_skip_until = 0.0
        self._acks_closed = False

    def is_connected(self) -> bool:
        """Whether ingest consumes its queue right now."""
        return self.consumer.connected.is_set()

    # --- broker side: runs on the consumer thread, must stay cheap ---------------------

    def health(self) -> list[str]:
        """What does not answer: 'broker', 'database', 'redis' (for GET /health)."""
        broker = [] if self.is_connected() else ["broker"]
        return broker + stores_unavailable(self.settings)

    def _on_message(self, topic: str, body: bytes, delivery_tag: int, generation: int) -> None:
        parsed = parse_message(topic, body, received_ms=int(time.time() * 1000), limits=self.limits)
        self.metrics.message_in(parsed.kind)
        self.buffer.add(Received(delivery_tag, generation, parsed))
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
            # Stopping while the database is unreachable: the broker keeps these, and no
            # later ack may cover them (acks are cumulative), so acking ends here.
            self._acks_closed = True
            return 0
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
        """Ack the batch: one multiple-ack per connection it came from, newest tag each."""
        if self._acks_closed:
            return
        latest: dict[int, int] = {}
        for item in batch:  # arrival order: the last tag of a generation is its highest
            latest[item.generation] = item.delivery_tag
        for generation, tag in latest.items():
            self.consumer.ack_through(tag, generation)

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
        if not self.consumer.publish(topics.cmd(device_id), payload):
            log.warning("sos_ack for band %s not sent: no broker connection", device_id)

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

    def start(self) -> threading.Thread:
        """Connect (retrying in the background) and start receiving; returns the flush thread."""
        self.consumer.start()
        flusher = threading.Thread(target=self.flush_forever, name="ingest-flush", daemon=True)
        flusher.start()
        return flusher

    def stop(self, flusher: threading.Thread) -> None:
        """Stop receiving, commit and ack what was received, then disconnect."""
        self.consumer.pause()
        self.stopping.set()
        flusher.join(timeout=30)
        self.consumer.stop()
        self._drop_connection()


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
