"""Fixtures for alerting tests: a clean alerts state per test, an engine, a clock."""

from __future__ import annotations

import psycopg
import pytest

from alerting.engine import Engine


@pytest.fixture
def clean_alerts(db: psycopg.Connection):
    """Alerts, outbox and engine state are emptied before each test (bands stay)."""
    db.execute(
        "TRUNCATE alerts, alert_events, outbox, alerting_seen_events, alerting_watermarks,"
        " geofences, alert_thresholds, resident_baselines, emergency_contacts CASCADE"
    )
    db.execute("UPDATE devices SET state = 'revoked'")  # earlier tests' bands drop out
    return db


@pytest.fixture
def engine(settings) -> Engine:
    return Engine(settings)
