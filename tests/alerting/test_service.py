"""The running service: an SOS on the stored stream reaches 120 fast; SIGTERM stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import orjson

from alerting.service import AlertingService
from tests.alerting.factories import HOME, add_contact, insert_event, make_resident
from tests.alerting.receivers import Receiver


def test_sos_reaches_120_in_under_a_second_even_while_the_sms_gateway_hangs(
    clean_alerts, new_band_ids, settings, redis_client
):
    db = clean_alerts
    recv = {name: Receiver().start() for name in ("community", "family", "g120")}
    configured = settings.model_copy(
        update={
            "alerting_community_gateway_url": recv["community"].url,
            "alerting_family_gateway_url": recv["family"].url,
            "alerting_gateway_120_url": recv["g120"].url,
            "alerting_consumer_name": "test-consumer",
        }
    )
    recv["community"].on_request = lambda: time.sleep(3)  # a hanging SMS gateway
    (band,) = new_band_ids(1)
    resident = make_resident(db, band)
    add_contact(db, resident)
    service = AlertingService(configured)
    service.start()
    try:
        time.sleep(1.5)  # consumer group created, context loaded
        now = datetime.now(UTC)
        event = insert_event(db, band, "live-1", "sos", now, *HOME, 6.0)
        sent = time.monotonic()
        batch = {
            "committed_at_ms": int(now.timestamp() * 1000),
            "telemetry": [],
            "location": [],
            "status": [],
            "events": [event],
        }
        redis_client.xadd(f"{configured.redis_prefix}stream:stored", {"batch": orjson.dumps(batch)})
        while not recv["g120"].received and time.monotonic() - sent < 5:
            time.sleep(0.005)
        latency = time.monotonic() - sent
        assert recv["g120"].received, "the 120 gateway never got the SOS"
        assert latency < 1.0
        assert recv["g120"].received[0].json["resident"]["name"] == "Test Resident"
        time.sleep(0.3)
        assert len(recv["g120"].received) == 1  # stream and sweep together: one dispatch
    finally:
        service.stop()
        for r in recv.values():
            r.stop()


def test_eldercare_alerting_stops_cleanly_on_sigterm(settings, repo_root):
    env = os.environ.copy()
    env.update(
        {
            "ELDERCARE_ENVIRONMENT": "test",
            "ELDERCARE_DATABASE_URL": settings.database_url.get_secret_value(),
            "ELDERCARE_REDIS_URL": settings.redis_url.get_secret_value(),
            "ELDERCARE_REDIS_PREFIX": settings.redis_prefix,
            "ELDERCARE_ALERTING_CONSUMER_NAME": "sigterm-test",
        }
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "eldercare.cli", "alerting"],
        cwd=repo_root,
        env=env,
        stderr=subprocess.PIPE,
    )
    time.sleep(2.0)
    assert child.poll() is None, child.stderr.read().decode()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=15) == 0
