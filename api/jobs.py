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
- care-rollup: every `care_rollup_interval_s`, add the band data stored since the last run to
  the daily check list's rollups (`api.care.rollup.advance`); the list reads only those.
- care-warnings: every `care_warnings_interval_s`, the early-warning check, which pages the
  community director for a rising series (`api.care.warnings.raise_warnings`).
- council-escalation: every `councils_escalation_interval_s`, an alert on the director's
  ladder for each overdue council task (`api.councils.service.escalate_overdue`).

The care and council work is the API's own async service code: each run opens an async
connection and runs it to completion in the loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from alerting.alerts.retention import purge_resolved_alerts
from api.alerts.service import system_alerts_on
from api.audit.retention import purge_expired_audit
from api.bookings.band_requests import SWEEP_INTERVAL_S, book_pending_requests
from api.care import rollup, warnings
from api.care.daily import WINDOW_DAYS
from api.councils.service import escalate_overdue
from api.db import DbConn
from api.location.retention import purge_expired_fixes
from api.requests.band_requests import open_from_band_events
from eldercare.db import connect
from eldercare.i18n import DEFAULT_TIME_ZONE
from eldercare.loops import Loops, stop_on_signal
from eldercare.settings import Settings
from ingest.retention import drop_expired, drop_expired_telemetry
from ingest.rollups import roll_up

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 3600.0
ZONE = ZoneInfo(DEFAULT_TIME_ZONE)

# One run of an async job: (async connection, the loop's own sync connection) -> None.
AsyncWork = Callable[[DbConn, psycopg.Connection], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


class Jobs:
    """The background loops of the API; `stop` ends them."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = _now) -> None:
        self.settings = settings
        self.clock = clock
        self.loops = Loops("jobs")

    def start(self, only: Collection[str] | None = None) -> None:
        """Start every loop, or only those named in `only`."""
        s = self.settings
        loops = {
            "band-requests": self._band_requests_loop,
            "rollups": self._rollups_loop,
            "retention": self._retention_loop,
            "care-rollup": lambda: self._every(s.care_rollup_interval_s, self.roll_up_care),
            "care-warnings": lambda: self._every(s.care_warnings_interval_s, self.check_warnings),
            "council-escalation": lambda: self._every(
                s.councils_escalation_interval_s, self.escalate_council_tasks
            ),
        }
        self.loops.start({k: v for k, v in loops.items() if only is None or k in only})

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

    def _every(self, interval_s: float, work: AsyncWork) -> None:
        """Run `work` now and then every `interval_s` until stopped."""
        while not self.loops.stopping.is_set():
            self.run_once(work)
            self.loops.stopping.wait(interval_s)

    def run_once(self, work: AsyncWork) -> None:
        """One run of an async job (e.g. `roll_up_care`), on connections of its own."""
        with connect(self.settings, autocommit=True) as sync_conn:
            asyncio.run(self._once(work, sync_conn))

    async def _once(self, work: AsyncWork, sync_conn: psycopg.Connection) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.settings.database_url.get_secret_value(),
            autocommit=True,
            row_factory=dict_row,
            application_name="eldercare-jobs",
        ) as conn:
            await work(conn, sync_conn)

    async def roll_up_care(self, conn: DbConn, _sync_conn: psycopg.Connection) -> None:
        """One run of the daily check list's rollup."""
        run = await rollup.advance(
            conn=conn,
            now=self.clock(),
            zone=ZONE,
            days=WINDOW_DAYS,
            lag=timedelta(seconds=self.settings.care_rollup_lag_s),
        )
        log.info(
            "care rollup: %s rows merged, %s days rolled up whole, data up to %s",
            run.merged_rows, len(run.whole_days), run.received_upto.isoformat(),
        )  # fmt: skip

    async def check_warnings(self, conn: DbConn, sync_conn: psycopg.Connection) -> None:
        """One early-warning check."""
        raised = await warnings.raise_warnings(
            conn=conn, raise_alert=system_alerts_on(sync_conn), now=self.clock(), zone=ZONE
        )
        log.info("early warnings: %s series above their baseline", len(raised))

    async def escalate_council_tasks(self, conn: DbConn, sync_conn: psycopg.Connection) -> None:
        """One escalation of overdue council tasks."""
        raised = await escalate_overdue(
            conn=conn, raise_alert=system_alerts_on(sync_conn), now=self.clock(), zone=ZONE
        )
        if raised:
            log.info("council tasks: %s overdue, on the director's ladder", len(raised))


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
