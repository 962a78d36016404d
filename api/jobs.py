"""`eldercare jobs`: the API's background work, in its own process, not in `eldercare api`.

Loops (each a named thread with its own connection, supervised by `eldercare.loops`:
restarted with jittered backoff after a failure):
- band-requests: every SWEEP_INTERVAL_S, bookings for bands' `service_request` events, and
  residents' requests for those that are not bookings.
- location-retention: at start and then hourly, delete location history past
  `api_location_retention_days`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from api.bookings.band_requests import SWEEP_INTERVAL_S, book_pending_requests
from api.location.retention import purge_expired_fixes
from api.requests.band_requests import open_from_band_events
from eldercare.db import connect
from eldercare.loops import Loops, stop_on_signal
from eldercare.settings import Settings

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
                "location-retention": self._retention_loop,
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
