"""Counters a duty engineer can scrape (Prometheus text format)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from eldercare.status_http import StatusServer


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages_in = Counter(
            "eldercare_ingest_messages_total", "MQTT messages received", ["kind"], registry=r
        )
        self._messages_in_by_kind: dict = {}
        self.rows_stored = Counter(
            "eldercare_ingest_rows_stored_total", "New rows committed", ["table"], registry=r
        )
        self.duplicates = Counter(
            "eldercare_ingest_duplicates_total",
            "Rows already stored, absorbed",
            ["table"],
            registry=r,
        )
        self.dead_letters = Counter(
            "eldercare_ingest_dead_letters_total", "Rejected items", ["reason"], registry=r
        )
        self.batch_latency = Histogram(
            "eldercare_ingest_batch_seconds",
            "Time to commit one batch",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.broker_lag = Histogram(
            "eldercare_ingest_broker_lag_seconds",
            "Oldest message of each batch: band's sent_at to commit (includes band clock error)",
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
        )
        self.buffered = Gauge(
            "eldercare_ingest_buffered_messages", "Received, not yet committed", registry=r
        )
        self.store_failures = Counter(
            "eldercare_ingest_store_failures_total",
            "Batches that failed and were retried",
            registry=r,
        )

    def message_in(self, kind: str | None) -> None:
        """Count one received message (children cached: labels() is slow per message)."""
        child = self._messages_in_by_kind.get(kind)
        if child is None:
            child = self._messages_in_by_kind[kind] = self.messages_in.labels(kind or "other")
        child.inc()

    def serve(self, port: int, host: str = "127.0.0.1", health=None) -> None:
        """Expose /metrics and /health on host:port (0 = do not serve)."""
        if port:
            StatusServer(
                host=host, port=port, registry=self.registry, health=health or (lambda: [])
            ).start()
