"""Broken object-level authorisation, route by route: someone else's object must be answered
exactly like an object that does not exist (family A vs resident B, grid A vs grid B)."""

from __future__ import annotations

import pytest

MISSING = 999_999_999
SPAN = "start=2026-11-22T00:00:00Z&end=2026-11-23T00:00:00Z"
CIRCLE = {"name": "x", "radius_m": 50, "geometry": {"type": "Point", "coordinates": [123, 41]}}
LINK = {"account_id": 1, "consent_method": "written"}

# (method, path, body); {rid} is a resident, {gid} its geofence, {lid} its family link,
# {bid} its booking, {imei} its band.
ROUTES = [
    ("get", "/residents/{rid}", None),
    ("patch", "/residents/{rid}", {"low_income": True}),
    ("get", "/residents/{rid}/contacts", None),
    ("post", "/residents/{rid}/contacts", {"name": "Son", "phone": "13800000000"}),
    ("delete", "/residents/{rid}/contacts/1", None),
    ("get", "/residents/{rid}/family-links", None),
    ("post", "/residents/{rid}/family-links", LINK),
    ("post", "/residents/{rid}/family-links/{lid}/withdraw", None),
    ("get", "/residents/{rid}/thresholds", None),
    ("put", "/residents/{rid}/thresholds", {"overrides": {}}),
    ("get", "/residents/{rid}/location/latest", None),
    ("get", "/residents/{rid}/location/history?" + SPAN, None),
    ("get", "/residents/{rid}/vitals/latest", None),
    ("get", "/residents/{rid}/geofences", None),
    ("post", "/residents/{rid}/geofences", CIRCLE),
    ("get", "/residents/{rid}/geofences/{gid}", None),
    ("put", "/residents/{rid}/geofences/{gid}", CIRCLE),
    ("delete", "/residents/{rid}/geofences/{gid}", None),
    ("get", "/timebank/residents/{rid}", None),
    ("post", "/bookings", {"resident_id": "{rid}", "service": "meal"}),
    ("get", "/bookings/{bid}", None),
    ("post", "/bookings/{bid}/cancel", None),
    ("post", "/bookings/{bid}/start", None),
    ("post", "/bookings/{bid}/complete", None),
    ("post", "/bookings/{bid}/confirm-completion", None),
    ("post", "/bookings/{bid}/schedule", {"provider_id": 1, "start": "2026-12-01T09:00:00Z"}),
    ("post", "/timebank/redemptions", {"booking_id": "{bid}", "pay_from": "self",
                                       "idempotency_key": "bola-key-1"}),
    ("post", "/timebank/donations", {"resident_id": "{rid}", "minutes": 1,
                                     "idempotency_key": "bola-key-2"}),
    ("get", "/devices/{imei}", None),
    ("post", "/devices/{imei}/unbind", None),
    ("post", "/devices/{imei}/bind", {"resident_id": "{rid}"}),
    ("post", "/devices/{imei}/commands", {"type": "locate"}),
]  # fmt: skip


def _fill(value, ids):
    if isinstance(value, str):
        filled = value.format(**ids)
        return int(filled) if value.startswith("{") and filled.isdigit() else filled
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
def victim(client, family_world, bind_band, db):
    """Resident B's objects: a geofence, a family link, a booking and a band."""
    fam_b, rid = family_world["fam_b"], family_world["res_b"]
    gid = client.post(f"/residents/{rid}/geofences", json=CIRCLE, headers=fam_b.headers).json()[
        "geofence_id"
    ]
    lid = db.execute("SELECT link_id FROM family_links WHERE resident_id = %s", (rid,)).fetchone()[
        0
    ]
    bid = client.post(
        "/bookings", json={"resident_id": rid, "service": "meal"}, headers=fam_b.headers
    ).json()["booking_id"]
    return {"rid": rid, "gid": gid, "lid": lid, "bid": bid, "imei": bind_band(rid)}


@pytest.mark.parametrize("attacker", ["fam_a", "worker_a"])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_someone_elses_object_looks_exactly_like_a_missing_one(
    client, family_world, victim, attacker, method, path, body
):
    headers = family_world[attacker].headers
    missing_ids = {"rid": MISSING, "gid": MISSING, "lid": MISSING, "bid": MISSING,
                   "imei": "490154203237518"}  # fmt: skip
    theirs = client.request(method, _fill(path, victim), json=_fill(body, victim), headers=headers)
    absent = client.request(
        method, _fill(path, missing_ids), json=_fill(body, missing_ids), headers=headers
    )
    assert theirs.status_code in (403, 404), theirs.text
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (
        absent.status_code,
        absent.json()["error"]["code"],
    )


def test_nothing_of_resident_b_was_changed_or_read(client, family_world, victim, db):
    # Runs the attack table once more as family A, then checks B's objects are intact.
    headers = family_world["fam_a"].headers
    for method, path, body in ROUTES:
        client.request(method, _fill(path, victim), json=_fill(body, victim), headers=headers)
    row = db.execute(
        "SELECT low_income FROM residents WHERE resident_id = %s", (victim["rid"],)
    ).fetchone()
    assert row == (False,)
    assert db.execute(
        "SELECT status FROM bookings WHERE booking_id = %s", (victim["bid"],)
    ).fetchone() == ("requested",)
    assert db.execute(
        "SELECT withdrawn_at FROM family_links WHERE link_id = %s", (victim["lid"],)
    ).fetchone() == (None,)
    assert db.execute(
        "SELECT count(*) FROM geofences WHERE geofence_id = %s", (victim["gid"],)
    ).fetchone() == (1,)
    assert db.execute(
        "SELECT resident_id FROM devices WHERE device_id = %s", (victim["imei"],)
    ).fetchone() == (victim["rid"],)
    assert db.execute(
        "SELECT count(*) FROM audit_log WHERE resident_id = %s AND account_id = %s",
        (victim["rid"], family_world["fam_a"].account_id),
    ).fetchone() == (0,)
