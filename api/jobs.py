"""`eldercare jobs`: the API's background work, in its own process, not in `eldercare api`.

Loops (each a named thread with its own connection, supervised by `eldercare.loops`:
restarted with jittered backoff after a failure):
- band-requests: every SWEEP_INTERVAL_S, bookings for bands' `service_request` events, and
  residents' requests for those that are not bookings.
- rollups: every `storage_rollup_interval_s` (at once again while behind), roll up the
  vitals stored since the last run (`ingest.rollups`).
- retention: at start and then hourly, drop or delete what is past its retention: location
  history (`api_location_retention_days`), raw telemetry already rolled up, roll-ups,
  band events, resolved alerts and the audit log (`storage_*_retention_days`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from alerting.alerts.retention import purge_resolved_alerts
from api.audit.retention import purge_expired_audit
from api.bookings.band_requests import SWEEP_INTERVAL_S, book_pending_requests
from api.location.retention import purge_expired_fixes
from api.requests.band_requests import open_from_band_events
from eldercare.db import connect
from eldercare.loops import Loops, stop_on_signal
from eldercare.settings import Settings
from ingest.retention import drop_expired, drop_expired_telemetry
from ingest.rollups import roll_up

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 3600.0


def _now() -> datetime:
    return datetime.now(UTC)


class Jobs:
    """The background loops of the API; `stop` ends them."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = _now) -> None:
        self.settings = settings
        self.clock = clock
        self.loops = Loops("jobs")

    def start(self) -> None:
        self.loops.start(
            {
                "band-requests": self._band_requests_loop,
                "rollups": self._rollups_loop,
                "retention": self._retention_loop,
            }
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        self.loops.stop(timeout_s)

    def _band_requests_loop(self) -> None:
        with connect(self.settings) as conn:
            while not self.loops.stopping.is_set():
                booked = book_pending_requests(conn=conn, now=self.clock())
                if booked:
                    log.info("booked %s service requests from bands", len(booked))
                opened = open_from_band_events(conn=conn, now=self.clock())
                if opened:
                    log.info("opened %s requests from bands' service requests", len(opened))
                self.loops.stopping.wait(SWEEP_INTERVAL_S)

    def _rollups_loop(self) -> None:
        s = self.settings
        with connect(s, autocommit=True) as conn:
            while not self.loops.stopping.is_set():
                run = roll_up(
                    conn,
                    settle_s=s.storage_rollup_settle_s,
                    max_window_s=s.storage_rollup_max_window_s,
                )
                if run is not None and run.minutes:
                    log.info("roll-ups: %s minutes, %s hours", run.minutes, run.hours)
                behind = run is not None and not run.caught_up
                self.loops.stopping.wait(0 if behind else s.storage_rollup_interval_s)

    def _retention_loop(self) -> None:
        with connect(self.settings, autocommit=True) as conn:
            while not self.loops.stopping.is_set():
                self.apply_retention(conn)
                self.loops.stopping.wait(RETENTION_INTERVAL_S)

    def apply_retention(self, conn: psycopg.Connection) -> None:
        """Drop or delete everything past its retention period, once."""
        s, now = self.settings, self.clock()
        fixes = purge_expired_fixes(
            conn=conn, retention_days=s.api_location_retention_days, now=now
        )
        telemetry = drop_expired_telemetry(
            conn, retention_days=s.storage_telemetry_retention_days, now=now
        )
        for table, days in (
            ("telemetry_minute", s.storage_minute_rollup_retention_days),
            ("telemetry_hour", s.storage_hour_rollup_retention_days),
            ("device_events", s.storage_event_retention_days),
        ):
            drop_expired(conn, table=table, retention_days=days, now=now)
        alerts = purge_resolved_alerts(
            conn=conn, retention_days=s.storage_alert_retention_days, now=now
        )
        audit = purge_expired_audit(
            conn=conn, retention_days=s.storage_audit_retention_days, now=now
        )
        log.info(
            "retention: %s location chunks dropped and %s fixes deleted, %s telemetry chunks"
            " dropped, %s alerts and %s audit entries deleted",
            fixes.chunks_dropped,
            fixes.rows_deleted,
            telemetry,
            alerts,
            audit,
        )


def run_jobs(settings: Settings) -> int:
    """Run the background jobs until SIGTERM or SIGINT; return the exit code."""
    jobs = Jobs(settings)
    stop = stop_on_signal("jobs")
    jobs.start()
    log.info("jobs started")
    stop.wait()
    jobs.stop()
    log.info("jobs stopped")
    return 0
