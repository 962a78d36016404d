"""The API's Prometheus metrics: request latency by route (prometheus-fastapi-instrumentator)
and open console streams, in a registry of the app's own, served on a separate address
(ELDERCARE_API_METRICS_HOST/PORT) so the public port carries no unauthenticated data."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge
from prometheus_fastapi_instrumentator import Instrumentator


def instrument(app: FastAPI) -> CollectorRegistry:
    """Count and time every request by route template, method and status class."""
    registry = CollectorRegistry()
    Instrumentator(
        registry=registry,
        should_group_status_codes=True,
        should_ignore_untemplated=True,  # unknown paths (scanners) would grow the label set
        should_exclude_streaming_duration=True,  # a console stream lasts hours, not a request
        excluded_handlers=["/health"],
    ).instrument(
        app,
        metric_namespace="eldercare",
        metric_subsystem="api",
        # The per-route histogram: fine enough to see a p99 under 100 ms move.
        latency_lowr_buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )
    Gauge(
        "eldercare_api_open_alert_streams",
        "Duty-console live streams being served",
        registry=registry,
    ).set_function(lambda: getattr(app.state, "open_alert_streams", 0))
    return registry
