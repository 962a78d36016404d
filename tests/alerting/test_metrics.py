"""Metrics change as notices flow: pending, oldest age, attempts, failures, finding to delivery."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from alerting.dispatcher import Dispatcher
from alerting.engine import Engine, apply_findings
from alerting.http import AlertingHttp
from alerting.metrics import AlertingMetrics
from tests.alerting.factories import HOME, T0, add_contact, insert_event, make_resident
from tests.alerting.receivers import Receiver
from tests.support.services import free_port


def test_metrics_follow_a_120_notice_from_failing_to_delivered(
    clean_alerts, new_band_ids, settings, redis_client
):
    db = clean_alerts
    g120 = Receiver(status=503).start()
    configured = settings.model_copy(
        update={"alerting_gateway_120_url": g120.url, "alerting_http_port": free_port()}
    )
    metrics = AlertingMetrics()

    def value(name, **labels):
        return metrics.registry.get_sample_value(name, labels) or 0.0

    (band,) = new_band_ids(1)
    add_contact(db, make_resident(db, band))
    engine = Engine(configured)
    engine.refresh(db, now=T0)
    event = insert_event(db, band, "m-1", "sos", T0, *HOME, 8.0)
    apply_findings(db, engine.findings_from_events([event]), now=T0)
    dispatcher = Dispatcher(configured, redis_client, metrics=metrics)
    server = AlertingHttp(configured, metrics.registry, clock=lambda: T0)
    port = server.start()
    try:
        dispatcher.run_once(db, now=T0, channels=("gateway_120",))
        metrics.refresh_outbox(db, now=T0 + timedelta(seconds=30))
        assert value("eldercare_alerting_notices_pending", channel="gateway_120") == 1
        assert value("eldercare_alerting_oldest_pending_age_seconds", channel="gateway_120") == 30
        assert (
            value("eldercare_alerting_attempts_total", channel="gateway_120", outcome="retry") == 1
        )
        assert (
            value("eldercare_alerting_failures_total", channel="gateway_120", reason="http_5xx")
            == 1
        )
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'eldercare_alerting_notices_pending{channel="gateway_120"} 1.0' in scraped
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok"

        g120.status = 200
        dispatcher.run_once(db, now=T0 + timedelta(seconds=45), channels=("gateway_120",))
        metrics.refresh_outbox(db, now=T0 + timedelta(seconds=46))
        assert value("eldercare_alerting_notices_pending", channel="gateway_120") == 0
        assert value("eldercare_alerting_oldest_pending_age_seconds", channel="gateway_120") == 0
        assert (
            value("eldercare_alerting_attempts_total", channel="gateway_120", outcome="delivered")
            == 1
        )
        delivered = "eldercare_alerting_finding_to_delivery_seconds"
        assert value(f"{delivered}_count", channel="gateway_120") == 1
        assert value(f"{delivered}_sum", channel="gateway_120") == pytest.approx(45, abs=1)
    finally:
        server.stop()
        g120.stop()
