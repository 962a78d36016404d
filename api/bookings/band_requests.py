"""Bookings from bands' `service_request` events, picked up from what ingest stored.

A sweep over recent events rather than a stream consumer: `create_from_band_request` is
idempotent, so a restart, a missed notification or two API processes cannot lose or
double a request. A request for a meal can wait the few seconds between sweeps, which
`eldercare jobs` runs (api/jobs.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from api.bookings.service import create_from_band_request

SWEEP_INTERVAL_S = 5.0
LOOKBACK = timedelta(days=1)

# Recent service requests of bands, only those sent while bound to the band's current
# resident: a band handed on to someone else must not book (or ask) for them.
BOUND_SERVICE_REQUESTS_SQL = """
FROM device_events e
JOIN devices d ON d.device_id = e.device_id
WHERE e.type = 'service_request'
  AND e.received_at > %(since)s
  AND d.resident_id IS NOT NULL
  AND e.t >= coalesce(d.bound_at, '-infinity')"""
_PENDING_SQL = f"""
SELECT e.device_id, e.event_id, e.service, e.t {BOUND_SERVICE_REQUESTS_SQL}
  AND NOT EXISTS (
      SELECT 1 FROM bookings b WHERE b.device_id = e.device_id AND b.event_id = e.event_id)
ORDER BY e.received_at
LIMIT 500"""


def book_pending_requests(*, conn: psycopg.Connection, now: datetime) -> list[int]:
    """Book every recent band service request that has no booking yet; return booking ids."""
    rows = conn.execute(_PENDING_SQL, {"since": now - LOOKBACK}).fetchall()
    booked = []
    for device_id, event_id, service, t in rows:  # a handful per sweep, not a hot path
        booking_id = create_from_band_request(
            conn=conn, device_id=device_id, event_id=event_id, service=service, requested_at=t
        )
        if booking_id is not None:
            booked.append(booking_id)
    conn.commit()
    return booked
