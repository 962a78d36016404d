"""The API's metrics: request latency by route template, and open console streams."""

from __future__ import annotations

from prometheus_client import generate_latest


def test_request_latency_is_counted_by_route_template_not_by_path(client):
    client.get("/residents/123456789")  # unauthenticated: 401, still a request of that route
    registry = client.app.state.metrics_registry
    text = generate_latest(registry).decode()
    assert 'handler="/residents/{resident_id}"' in text
    assert "/residents/123456789" not in text
    assert "eldercare_api_open_alert_streams 0.0" in text
