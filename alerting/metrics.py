"""Prometheus metrics of the alerting process (served by alerting/http.py on /metrics)."""

from __future__ import annotations

import re
from datetime import datetime

import psycopg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)


def reason_class(error: str | None) -> str:
    """A failure reason as a label with few values: throttled, invalid_number, http_5xx, ..."""
    e = error or ""
    if e.startswith("throttled"):
        return "throttled"
    if e.startswith("invalid number"):
        return "invalid_number"
    if e.startswith("no ") or "not configured" in e:
        return "not_configured"
    if e.startswith("redis"):
        return "redis"
    status = re.match(r"HTTP (\d)\d\d", e)
    if status:
        return f"http_{status.group(1)}xx"
    if re.match(r"\w*(Error|Timeout|Exception)\b", e):
        return "connection"
    return "provider_refused"


class AlertingMetrics:
    """Every metric of one alerting process, in its own registry."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.pending = Gauge(
            "eldercare_alerting_notices_pending",
            "Notices not yet delivered (pending or sent awaiting a receipt), per channel",
            ["channel"],
            registry=r,
        )
        self.oldest_pending = Gauge(
            "eldercare_alerting_oldest_pending_age_seconds",
            "Age of the oldest notice not yet delivered, per channel",
            ["channel"],
            registry=r,
        )
        self.attempts = Counter(
            "eldercare_alerting_attempts",
            "Delivery attempts by channel and outcome (delivered, sent, retry, failed)",
            ["channel", "outcome"],
            registry=r,
        )
        self.failures = Counter(
            "eldercare_alerting_failures",
            "Failed delivery attempts by channel and reason",
            ["channel", "reason"],
            registry=r,
        )
        self.finding_to_delivery = Histogram(
            "eldercare_alerting_finding_to_delivery_seconds",
            "From the finding (band time) to the notice's delivery, per channel",
            ["channel"],
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.unreached = Counter(
            "eldercare_alerting_emergencies_unreached",
            "SOS/fall notices not delivered within their deadline",
            registry=r,
        )
        self.sweep_seconds = Histogram(
            "eldercare_alerting_sweep_seconds", "Duration of one sweep of all bands", registry=r
        )
        self.stream_lag = Gauge(
            "eldercare_alerting_stream_lag_seconds",
            "From ingest's commit to the engine reading the stored-stream entry",
            registry=r,
        )
        self.failed_events = Counter(
            "eldercare_alerting_emergency_events_failed",
            "SOS/fall events whose alert could not be written (retried)",
            registry=r,
        )
        self.rows_read = Gauge(
            "eldercare_alerting_rows_read",
            "Telemetry and fix rows the band evaluation fetched from PostgreSQL since the start",
            registry=r,
        )
        self.bands_tracked = Gauge(
            "eldercare_alerting_bands_tracked",
            "Bands whose look-back the engine holds (the rest are being read after a start)",
            registry=r,
        )

    def attempt(self, channel: str, outcome: str, error: str | None = None) -> None:
        """Count one attempt (and its failure reason)."""
        self.attempts.labels(channel, outcome).inc()
        if outcome in ("retry", "failed"):
            self.failures.labels(channel, reason_class(error)).inc()

    def refresh_outbox(self, conn: psycopg.Connection, *, now: datetime) -> None:
        """Set the pending gauges from the outbox (every channel, zero when none)."""
        from alerting.dispatcher import ALL_CHANNELS  # the dispatcher reports to us

        rows = conn.execute(
            """SELECT channel, count(*), min(created_at) FROM outbox
               WHERE status IN ('pending', 'held', 'sent') GROUP BY channel"""
        ).fetchall()
        found = {channel: (n, oldest) for channel, n, oldest in rows}
        for channel in set(ALL_CHANNELS) | set(found):
            n, oldest = found.get(channel, (0, None))
            self.pending.labels(channel).set(n)
            age = (now - oldest).total_seconds() if oldest is not None else 0.0
            self.oldest_pending.labels(channel).set(max(0.0, age))
