"""A band's service_request becomes one booking for the resident it is bound to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from api.bookings.band_requests import book_pending_requests
from tests.support.storage import store_messages


def service_request(band: str, event_id: str, service: str, t: datetime):
    t_ms = int(t.timestamp() * 1000)
    payload = orjson.dumps(
        {
            "v": 1,
            "sent_at": t_ms,
            "id": event_id,
            "t": t_ms,
            "type": "service_request",
            "service": service,
        }
    )
    return (f"eldercare/v1/{band}/event", payload, t)


def bookings_of(db, band: str) -> list[tuple]:
    return db.execute(
        "SELECT resident_id, service, source, status FROM bookings WHERE device_id = %s", (band,)
    ).fetchall()


def test_band_service_request_is_booked_once_for_its_resident(
    settings, db, make_resident, bind_band
):
    resident = make_resident()
    band = bind_band(resident)
    now = datetime.now(UTC)
    store_messages(db, [service_request(band, "9-1", "meal", now)], settings=settings)

    first = book_pending_requests(conn=db, now=now + timedelta(seconds=1))
    again = book_pending_requests(conn=db, now=now + timedelta(seconds=6))
    assert len(first) == 1 and again == []
    assert bookings_of(db, band) == [(resident, "meal", "band", "requested")]


def test_request_sent_before_the_band_was_bound_is_not_booked_for_the_new_resident(
    settings, db, make_resident, bind_band
):
    resident = make_resident()
    band = bind_band(resident)
    earlier = datetime.now(UTC) - timedelta(hours=2)
    store_messages(db, [service_request(band, "9-2", "haircut", earlier)], settings=settings)
    db.execute("UPDATE devices SET bound_at = now() WHERE device_id = %s", (band,))

    assert book_pending_requests(conn=db, now=datetime.now(UTC)) == []
    assert bookings_of(db, band) == []
