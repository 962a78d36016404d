"""Within a priority, a notice's first attempt goes before other notices' retries: when the
120 gateway hangs, each retry of an older SOS is held for the whole timeout, and a newer
SOS must not wait behind them in the same lane."""

from __future__ import annotations

import threading
from datetime import timedelta

from alerting.dispatcher import Dispatcher
from alerting.engine import Engine, apply_findings
from tests.alerting.factories import HOME, T0, add_contact, insert_event, make_resident
from tests.alerting.receivers import start_receivers

TIMEOUT_S = 0.5  # the gateway's timeout (5 s in production), short to keep the test quick


def _sos(db, engine: Engine, band: str, at) -> int:
    event = insert_event(db, band, f"hol-{band}-{at.timestamp()}", "sos", at, *HOME, 8.0)
    (alert_id,) = apply_findings(db, engine.findings_from_events([event]), now=at)
    return alert_id


def test_new_sos_goes_to_a_hanging_120_before_an_older_sos_is_retried(
    clean_alerts, new_band_ids, settings, redis_client
):
    db = clean_alerts
    release = threading.Event()
    configured, recv = start_receivers(settings, alerting_webhook_timeout_s=TIMEOUT_S)
    g120 = recv["g120"]
    g120.on_request = lambda: release.wait(10)  # hangs past the dispatcher's timeout
    try:
        older_band, newer_band = new_band_ids(2)
        for band in (older_band, newer_band):
            add_contact(db, make_resident(db, band))
        engine = Engine(configured)
        engine.refresh(db, now=T0)
        dispatcher = Dispatcher(configured, redis_client, rng=lambda: 0.0)
        lane = ("gateway_120",)
        older = _sos(db, engine, older_band, T0)
        dispatcher.run_once(db, now=T0, channels=lane, limit=1)  # times out: a retry is due
        newer = _sos(db, engine, newer_band, T0 + timedelta(seconds=5))

        # Both are due now; one send fits in this pass (each is held the whole timeout).
        dispatcher.run_once(db, now=T0 + timedelta(seconds=10), channels=lane, limit=1)
        dispatcher.run_once(db, now=T0 + timedelta(seconds=11), channels=lane, limit=1)
        arrivals = [r.json["alert_id"] for r in g120.received]
    finally:
        release.set()
        for receiver in recv.values():
            receiver.stop()
    assert arrivals == [older, newer, older]
