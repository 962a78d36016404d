"""Fixtures for alerting tests: a clean alerts state per test, an engine, a clock."""

from __future__ import annotations

import psycopg
import pytest

from alerting.engine import Engine


@pytest.fixture
def clean_alerts(db: psycopg.Connection):
    """Alerts, outbox, engine state and stored SOS/falls are emptied before each test."""
    db.execute(
        "TRUNCATE alerts, alert_events, outbox, alerting_seen_events, alerting_watermarks,"
        " geofences, alert_thresholds, resident_baselines, emergency_contacts CASCADE"
    )
    db.execute("UPDATE devices SET state = 'revoked'")  # earlier tests' bands drop out
    # Their stored SOS and falls too: with the watermarks and seen events emptied, a sweep
    # would raise them again and page 120 beside the test's own press.
    db.execute("DELETE FROM device_events WHERE type IN ('sos', 'fall')")
    return db


@pytest.fixture
def engine(settings) -> Engine:
    return Engine(settings)
