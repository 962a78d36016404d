"""Prometheus metrics of the alerting process (served by alerting/http.py)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry


class AlertingMetrics:
    """Every metric of one alerting process, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
