"""Requests from bands' `service_request` events that are not bookings.

The bookings sweeper books the services of the catalog; an event whose service is not (or is
no longer) in the catalog is still a resident asking for help, so it becomes a request for
the grid worker instead of being dropped. Idempotent on (band, event id), like bookings.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from api.bookings.band_requests import BOUND_SERVICE_REQUESTS_SQL
from api.requests.opening import open_request
from eldercare.i18n import text

LOOKBACK = timedelta(days=1)
BAND_CATEGORY = "living_help"

_PENDING_SQL = f"""
SELECT e.device_id, e.event_id, coalesce(e.service, ''), e.t, d.resident_id
{BOUND_SERVICE_REQUESTS_SQL}
  AND NOT EXISTS (SELECT 1 FROM service_catalog c WHERE c.service = e.service)
  AND NOT EXISTS (
      SELECT 1 FROM requests q WHERE q.device_id = e.device_id AND q.event_id = e.event_id)
ORDER BY e.received_at
LIMIT 500"""


def open_from_band_events(*, conn: psycopg.Connection, now: datetime) -> list[int]:
    """Open a request for every recent band service request that is not a booking."""
    opened = []
    for device_id, event_id, service, t, resident_id in conn.execute(
        _PENDING_SQL, {"since": now - LOOKBACK}
    ).fetchall():
        opened.append(
            open_request(
                conn,
                text=text("request.band.text", service=service or "-"),
                category=BAND_CATEGORY,
                channel="band",
                now=t,
                resident_id=resident_id,
                device_id=device_id,
                event_id=str(event_id),
            )
        )
    conn.commit()  # the sweeper's connection is not autocommit
    return opened
