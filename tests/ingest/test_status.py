"""Ingest's /health and /metrics, on the configured address another container can scrape."""

from __future__ import annotations

import time

import httpx

from tests.support.processes import spawn_service
from tests.support.services import free_port


def test_ingest_serves_health_and_metrics_on_its_configured_address(settings, tmp_path):
    port = free_port()
    ingest = spawn_service(
        settings,
        "ingest",
        log_path=tmp_path / "ingest.log",
        ingest_client_id=f"status-{port}",
        ingest_metrics_port=str(port),
        ingest_metrics_host="127.0.0.1",
    )
    try:
        deadline, health = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert health is not None and health.status_code == 200, (
            tmp_path / "ingest.log"
        ).read_text()
        assert health.json() == {"status": "ok", "problems": []}
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        assert "eldercare_ingest_buffered_messages" in metrics
    finally:
        ingest.terminate()
        ingest.wait(timeout=15)
