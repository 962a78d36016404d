"""The running band worker: history read in the background after a start, new rows only after."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson

from alerting.worker import AlertingService
from eldercare import keys
from tests.alerting.factories import insert_telemetry, make_resident, set_status
from tests.alerting.receivers import start_receivers
from tests.alerting.test_engine_scenarios import open_alerts
from tests.alerting.test_service import group_ready
from tests.support.wait import wait_until


def _announce(redis_client, stream: str, bands: list[str]) -> None:
    batch = {
        "committed_at_ms": int(time.time() * 1000),
        "telemetry": bands,
        "location": [],
        "status": [],
        "events": [],
    }
    redis_client.xadd(stream, {"batch": orjson.dumps(batch)})


def test_restarted_engine_joins_history_read_in_background_with_a_new_reading(
    clean_alerts, new_band_ids, settings, redis_client
):
    """Two readings of HR 38 stored before the start, the third after: bradycardia is raised
    from the stream entry (the sweep is 10 min away), with all three readings."""
    db = clean_alerts
    configured, recv = start_receivers(
        settings, alerting_consumer_name="restart-test", alerting_sweep_s=600.0
    )
    band, quiet = new_band_ids(2)
    make_resident(db, band)
    make_resident(db, quiet)
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    history = [first, first + timedelta(seconds=30)]
    insert_telemetry(db, band, history, hr=[38, 38], steps=[500, 500], worn=[1, 1])
    set_status(db, band, history[-1])
    service = AlertingService(configured)
    stream = keys.stored_stream(configured.redis_prefix, 0, 1)
    service.start()
    try:
        wait_until(lambda: group_ready(redis_client, stream, service.group), timeout_s=30)
        evaluation = service.band_worker.evaluation
        tracked = lambda: evaluation.incremental.tracked  # noqa: E731
        wait_until(lambda: len(tracked()) == 2 and tracked().all(), timeout_s=30)
        assert open_alerts(db, "bradycardia") == []  # two readings are no proof
        read_before = evaluation.rows_read
        third = datetime.now(UTC).replace(microsecond=0)
        insert_telemetry(
            db, band, [third], hr=[38], steps=[500], worn=[1], received_at=datetime.now(UTC)
        )
        _announce(redis_client, stream, [band])
        wait_until(lambda: open_alerts(db, "bradycardia"), timeout_s=30)
        (alert,) = open_alerts(db, "bradycardia")
        assert alert["device_id"] == band
        assert alert["details"]["readings"] == 3
        assert evaluation.rows_read - read_before <= 3  # the new row, not the band's hour
    finally:
        service.stop()
        for r in recv.values():
            r.stop()
