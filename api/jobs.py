"""`eldercare jobs`: the API's background work, in its own process, not in `eldercare api`.

Loops (each a named thread with its own connection, supervised by `eldercare.loops`:
restarted with jittered backoff after a failure):
- band-requests: every SWEEP_INTERVAL_S, bookings for bands' `service_request` events, and
  residents' requests for those that are not bookings.
- location-retention: at start and then hourly, delete location history past
  `api_location_retention_days`.
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

from api.alerts.service import system_alerts_on
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
            "location-retention": self._retention_loop,
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

    def _retention_loop(self) -> None:
        with connect(self.settings, autocommit=True) as conn:
            while not self.loops.stopping.is_set():
                deleted = purge_expired_fixes(
                    conn=conn,
                    retention_days=self.settings.api_location_retention_days,
                    now=self.clock(),
                )
                log.info("location retention: deleted %s expired fixes", deleted)
                self.loops.stopping.wait(RETENTION_INTERVAL_S)

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
