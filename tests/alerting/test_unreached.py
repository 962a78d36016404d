"""Never silent: a failed 120 notice reaches the duty console in time and pages the director."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import orjson
import pytest

from alerting.alerts import service as alerts
from alerting.worker import AlertingService
from eldercare import keys
from tests.alerting.factories import HOME, add_contact, insert_event, make_resident
from tests.alerting.receivers import Receiver

DEADLINE_S = 2.0


def console_entries(redis_client, stream: str, after: str) -> list[tuple[float, dict]]:
    """Console pages after stream id `after`: (arrival time in s, page)."""
    entries = redis_client.xrange(stream, min=f"({after}")
    return [
        (int(entry_id.decode().split("-")[0]) / 1000, orjson.loads(fields[b"data"]))
        for entry_id, fields in entries
    ]


@pytest.mark.parametrize("fault", ["refuses", "hangs"])
def test_120_down_puts_call_120_now_on_the_console_within_the_deadline_and_pages_the_director(
    clean_alerts, new_band_ids, settings, redis_client, caplog, fault
):
    db = clean_alerts
    recv = {name: Receiver().start() for name in ("community", "family", "g120")}
    if fault == "refuses":
        recv["g120"].status = 503  # the 120 gateway is down
    else:  # it accepts the connection and never answers: each attempt holds the row 5 s
        recv["g120"].on_request = lambda: time.sleep(8)
    configured = settings.model_copy(
        update={
            "alerting_community_gateway_url": recv["community"].url,
            "alerting_family_gateway_url": recv["family"].url,
            "alerting_gateway_120_url": recv["g120"].url,
            "alerting_consumer_name": "unreached-test",
            "alerting_emergency_deadline_s": DEADLINE_S,
        }
    )
    (band,) = new_band_ids(1)
    resident = make_resident(db, band, medical_notes="Warfarin; pacemaker")
    add_contact(db, resident)
    console = f"{configured.redis_prefix}alerts:console"
    last = redis_client.xadd(console, {"idempotency_key": "marker", "data": b"{}"}).decode()
    service = AlertingService(configured)
    caplog.set_level(logging.WARNING)
    service.start()
    try:
        time.sleep(1.5)  # consumer group created, context loaded
        now = datetime.now(UTC)
        event = insert_event(db, band, f"unreached-{fault}", "sos", now, *HOME, 6.0)
        pressed = time.time()
        batch = {"committed_at_ms": int(now.timestamp() * 1000), "events": [event]}
        stream = keys.stored_stream(configured.redis_prefix, 0, 1)
        redis_client.xadd(stream, {"batch": orjson.dumps(batch)})

        def call_120_now():
            # Earlier tests' SOS events are still stored (the sweep may raise them again):
            # only pages naming this band count.
            return [
                (at, page, case)
                for at, page in console_entries(redis_client, console, last)
                if page.get("alert", {}).get("rule") == "emergency_unreached"
                for case in page["emergencies"]
                if case["device_id"] == band
            ]

        while not call_120_now() and time.time() - pressed < DEADLINE_S + 5:
            time.sleep(0.02)
        found = call_120_now()
        assert found, "nobody was told that 120 was not reached"
        at, page, case = found[0]
        assert at - pressed <= DEADLINE_S + 1.0
        assert page["alert"]["title"] == "120未收到通知：请立即拨打120"
        assert case["targets"] == ["gateway_120"]
        assert case["resident"]["address"] == "3-2-501 Hexie Lu"
        assert case["resident"]["medical_notes"] == "Warfarin; pacemaker"
        assert case["location"]["wgs84"] == {"lat": HOME[0], "lon": HOME[1]}
        assert case["emergency_contacts"][0]["phone"] == "13900000001"
        if fault == "refuses":
            assert "HTTP 503" in case["reasons"]

        def director_paged():
            return [
                r.json
                for r in recv["community"].received
                if r.json.get("role") == "community_director"
                and r.json["alert"]["rule"] == "emergency_unreached"
            ]

        deadline = time.monotonic() + 3
        while not director_paged() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert director_paged(), "the director was not paged"

        def failed_120():
            return [
                e["data"]
                for e in alerts.timeline(db, alert_id=case["alert_id"])
                if e["kind"] == "attempt_failed" and e["data"]["target"] == "gateway_120"
            ]

        deadline = time.monotonic() + 15  # a hanging gateway's attempt ends at its 5 s timeout
        while not failed_120() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        service.stop()
        for r in recv.values():
            r.stop()

    sos_id = case["alert_id"]
    timeline = alerts.timeline(db, alert_id=sos_id)
    kinds = [e["kind"] for e in timeline]
    assert "notified" not in kinds
    queued = next(e for e in timeline if e["kind"] == "queued")
    assert "gateway_120" in queued["data"]["targets"]
    failures = failed_120()
    assert failures, f"the failed 120 attempt is not on the timeline: {timeline}"
    assert failures[0]["reason"] == ("HTTP 503" if fault == "refuses" else "ReadTimeout: timed out")
    delivered = {e["data"]["target"] for e in timeline if e["kind"] == "delivered"}
    assert {"grid_worker", "family"} <= delivered  # console pages: on the console itself
    assert "gateway_120" not in delivered
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("gateway_120" in w and failures[0]["reason"] in w for w in warnings)
