"""Bookings (lifecycle, no double-booking, band requests) and the time bank."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from api.bookings.service import create_from_band_request
from tests.api.ledger import seed_minutes

T0 = "2026-12-01T09:00:00+08:00"


@pytest.fixture
def volunteer_provider(client, family_world, make_actor):
    """Factory: a volunteer account registered as a provider."""

    def make():
        volunteer = make_actor("volunteer")
        resp = client.post(
            "/providers",
            json={"kind": "volunteer", "name": "Xiao Chen", "account_id": volunteer.account_id},
            headers=family_world["duty"].headers,
        )
        assert resp.status_code == 201, resp.text
        return volunteer, resp.json()["provider_id"]

    return make


def _request(client, actor, resident_id, service="meal"):
    resp = client.post(
        "/bookings", json={"resident_id": resident_id, "service": service}, headers=actor.headers
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["booking_id"]


def _key() -> str:
    return uuid.uuid4().hex


def test_full_lifecycle_earns_the_volunteer_minutes_once(client, family_world, volunteer_provider):
    volunteer, provider_id = volunteer_provider()
    fam, worker, rid = family_world["fam_a"], family_world["worker_a"], family_world["res_a"]
    bid = _request(client, fam, rid, "haircut")
    scheduled = client.post(
        f"/bookings/{bid}/schedule",
        json={"provider_id": provider_id, "start": T0},
        headers=worker.headers,
    )
    assert scheduled.json()["status"] == "confirmed"
    assert scheduled.json()["slot_end"].startswith("2026-12-01T01:45")
    assert client.post(f"/bookings/{bid}/start", headers=volunteer.headers).json()["status"] == (
        "in_progress"
    )
    early = client.post(f"/bookings/{bid}/confirm-completion", headers=fam.headers)
    assert early.status_code == 409
    assert client.post(f"/bookings/{bid}/complete", headers=volunteer.headers).json()["status"] == (
        "completed"
    )
    confirmed = client.post(f"/bookings/{bid}/confirm-completion", headers=fam.headers)
    assert confirmed.status_code == 200 and confirmed.json()["confirmed_on_behalf"] is False
    again = client.post(f"/bookings/{bid}/confirm-completion", headers=worker.headers)
    assert again.status_code == 200
    statement = client.get("/timebank/me", headers=volunteer.headers).json()
    assert statement["balance_min"] == 45
    assert [(line["kind"], line["amount_min"]) for line in statement["items"]] == [("earn", 45)]


def test_staff_confirms_on_behalf_of_an_elder_without_a_phone(
    client, family_world, volunteer_provider
):
    volunteer, provider_id = volunteer_provider()
    worker, rid = family_world["worker_a"], family_world["res_a"]
    bid = _request(client, worker, rid)
    client.post(
        f"/bookings/{bid}/schedule",
        json={"provider_id": provider_id, "start": T0},
        headers=worker.headers,
    )
    client.post(f"/bookings/{bid}/start", headers=volunteer.headers)
    client.post(f"/bookings/{bid}/complete", headers=volunteer.headers)
    body = client.post(f"/bookings/{bid}/confirm-completion", headers=worker.headers).json()
    assert body["confirmed_on_behalf"] is True and body["completion_confirmed_by"] == (
        worker.account_id
    )


def test_provider_cannot_be_double_booked(client, family_world, volunteer_provider):
    _volunteer, provider_id = volunteer_provider()
    worker, rid = family_world["worker_a"], family_world["res_a"]
    first, second = _request(client, worker, rid, "housekeeping"), _request(client, worker, rid)
    ok = client.post(
        f"/bookings/{first}/schedule",
        json={"provider_id": provider_id, "start": T0},
        headers=worker.headers,
    )
    assert ok.status_code == 200
    overlapping = client.post(
        f"/bookings/{second}/schedule",
        json={"provider_id": provider_id, "start": "2026-12-01T10:30:00+08:00"},
        headers=worker.headers,
    )
    assert overlapping.status_code == 409
    after = client.post(
        f"/bookings/{second}/schedule",
        json={"provider_id": provider_id, "start": "2026-12-01T11:00:00+08:00"},
        headers=worker.headers,
    )
    assert after.status_code == 200  # back-to-back is fine: slots are half-open
    client.post(f"/bookings/{first}/cancel", headers=worker.headers)
    third = _request(client, worker, rid)
    freed = client.post(
        f"/bookings/{third}/schedule",
        json={"provider_id": provider_id, "start": T0},
        headers=worker.headers,
    )
    assert freed.status_code == 200


def test_bookings_of_other_residents_are_404(client, family_world, volunteer_provider):
    other_volunteer, _ = volunteer_provider()
    bid = _request(client, family_world["fam_b"], family_world["res_b"])
    for actor in ("fam_a", "worker_a"):
        headers = family_world[actor].headers
        assert client.get(f"/bookings/{bid}", headers=headers).status_code == 404
        assert client.post(f"/bookings/{bid}/cancel", headers=headers).status_code == 404
    assert client.get(f"/bookings/{bid}", headers=other_volunteer.headers).status_code == 404
    assert client.post(f"/bookings/{bid}/start", headers=other_volunteer.headers).status_code == 404
    mine = client.get("/bookings", headers=family_world["fam_a"].headers).json()["items"]
    assert bid not in [b["booking_id"] for b in mine]
    assert (
        client.post(
            "/bookings",
            json={"resident_id": family_world["res_b"], "service": "meal"},
            headers=family_world["fam_a"].headers,
        ).status_code
        == 404
    )


def test_band_service_request_books_once(db, family_world, bind_band, new_band_ids):
    device_id = bind_band(family_world["res_a"])
    at = datetime(2026, 11, 23, 9, tzinfo=UTC)
    first = create_from_band_request(
        conn=db, device_id=device_id, event_id="b1-0001", service="escort", requested_at=at
    )
    again = create_from_band_request(
        conn=db, device_id=device_id, event_id="b1-0001", service="escort", requested_at=at
    )
    assert first is not None and first == again
    row = db.execute(
        "SELECT resident_id, source, status FROM bookings WHERE booking_id = %s", (first,)
    ).fetchone()
    assert row == (family_world["res_a"], "band", "requested")
    (unbound,) = new_band_ids(1)
    assert (
        create_from_band_request(
            conn=db, device_id=unbound, event_id="x", service="meal", requested_at=at
        )
        is None
    )


def test_donation_then_redemption_on_behalf_and_no_overdraft(client, family_world, db):
    fam, worker, rid = family_world["fam_a"], family_world["worker_a"], family_world["res_a"]
    # The family member has earned nothing: giving is an overdraft.
    broke = client.post(
        "/timebank/donations",
        json={"resident_id": rid, "minutes": 30, "idempotency_key": _key()},
        headers=fam.headers,
    )
    assert broke.status_code == 409
    # Seed minutes the honest way: an earn posting from the system account.
    asyncio.run(seed_minutes(db.info.dsn, account_id=fam.account_id, minutes=40))
    key = _key()
    gift = client.post(
        "/timebank/donations",
        json={"resident_id": rid, "minutes": 40, "idempotency_key": key},
        headers=fam.headers,
    )
    replay = client.post(
        "/timebank/donations",
        json={"resident_id": rid, "minutes": 40, "idempotency_key": key},
        headers=fam.headers,
    )
    assert gift.status_code == replay.status_code == 201
    assert gift.json()["txn_id"] == replay.json()["txn_id"]
    bid = _request(client, worker, rid)
    by_family = client.post(
        "/timebank/redemptions",
        json={"booking_id": bid, "pay_from": "resident", "idempotency_key": _key()},
        headers=fam.headers,
    )
    assert by_family.status_code == 403
    paid = client.post(
        "/timebank/redemptions",
        json={"booking_id": bid, "pay_from": "resident", "idempotency_key": _key()},
        headers=worker.headers,
    )
    assert paid.status_code == 201 and paid.json()["on_behalf_of"] == rid
    twice = client.post(
        "/timebank/redemptions",
        json={"booking_id": bid, "pay_from": "resident", "idempotency_key": _key()},
        headers=worker.headers,
    )
    assert twice.status_code == 409
    statement = client.get(f"/timebank/residents/{rid}", headers=fam.headers).json()
    assert statement["balance_min"] == 10
    assert (
        client.get(f"/timebank/residents/{family_world['res_b']}", headers=fam.headers).status_code
        == 404
    )
