"""What a duty engineer can scrape from the gateway (Prometheus text format)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.connections = Gauge(
            "eldercare_gateway_connections", "Watch connections open", registry=r
        )
        self.frames = Counter(
            "eldercare_gateway_frames_total", "Frames received, by command", ["type"], registry=r
        )
        self.decode_failures = Counter(
            "eldercare_gateway_decode_failures_total",
            "Frames that did not read as the protocol",
            ["reason"],
            registry=r,
        )
        self.closed = Counter(
            "eldercare_gateway_connections_closed_total",
            "Connections the gateway closed, by reason",
            ["reason"],
            registry=r,
        )
        self.handover = Histogram(
            "eldercare_gateway_handover_seconds",
            "Frame received to every message of it confirmed by the broker",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.messages = Counter(
            "eldercare_gateway_messages_total",
            "Contract messages handed over (one may carry the readings of several frames)",
            registry=r,
        )
        self.commands = Counter(
            "eldercare_gateway_commands_total", "Commands sent to watches", ["type"], registry=r
        )

    def serve(self, port: int) -> None:
        if port:
            start_http_server(port, addr="127.0.0.1", registry=self.registry)
