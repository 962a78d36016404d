"""Accounts, tokens, roles, and object-level access to residents."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import SecretStr

from alerting.rules.thresholds import Params, load_overrides
from api.accounts.service import issue_token


def test_login_issues_a_token_that_opens_accounts_me(client, make_actor, db):
    actor = make_actor("duty_staff")
    username = db.execute(
        "SELECT username FROM accounts WHERE account_id = %s", (actor.account_id,)
    ).fetchone()[0]
    resp = client.post("/auth/token", data={"username": username, "password": "pw-1234567890"})
    assert resp.status_code == 200
    token = resp.json()["access_token"]
    me = client.get("/accounts/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["role"] == "duty_staff"


def test_login_with_wrong_password_or_unknown_user_is_401(client, make_actor, db):
    actor = make_actor("family")
    username = db.execute(
        "SELECT username FROM accounts WHERE account_id = %s", (actor.account_id,)
    ).fetchone()[0]
    wrong = client.post("/auth/token", data={"username": username, "password": "nope-nope-no"})
    unknown = client.post("/auth/token", data={"username": "ghost-x", "password": "nope-nope-no"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"


def test_login_is_rate_limited(client, make_actor, db):
    actor = make_actor("family")
    username = db.execute(
        "SELECT username FROM accounts WHERE account_id = %s", (actor.account_id,)
    ).fetchone()[0]
    limiter = client.app.state.login_limiter
    saved, limiter.per_minute = limiter.per_minute, 3
    try:
        codes = [
            client.post(
                "/auth/token", data={"username": username, "password": "bad-bad-bad"}
            ).status_code
            for _ in range(5)
        ]
    finally:
        limiter.per_minute = saved
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]


def test_requests_without_or_with_forged_tokens_are_401(client, family_world, api_settings):
    res = family_world["res_a"]
    assert client.get(f"/residents/{res}").status_code == 401
    forged = api_settings.model_copy(
        update={"api_jwt_secret": SecretStr("another-secret-0123456789abcdef-forged")}
    )
    token = issue_token(settings=forged, account_id=family_world["admin"].account_id)
    resp = client.get(f"/residents/{res}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401


def test_disabled_account_token_stops_working_at_once(client, family_world):
    admin, fam = family_world["admin"], family_world["fam_a"]
    assert client.get("/accounts/me", headers=fam.headers).status_code == 200
    resp = client.post(f"/accounts/{fam.account_id}/disable", headers=admin.headers)
    assert resp.status_code == 200
    assert client.get("/accounts/me", headers=fam.headers).status_code == 401


def test_only_admin_creates_accounts(client, family_world, make_grid):
    body = {
        "username": "new-worker-1",
        "password": "long-enough-pw",
        "role": "grid_worker",
        "grid_ids": [family_world["grid_a"]],
    }
    refused = client.post("/accounts", json=body, headers=family_world["duty"].headers)
    assert refused.status_code == 403
    created = client.post("/accounts", json=body, headers=family_world["admin"].headers)
    assert created.status_code == 201 and created.json()["grid_ids"] == [family_world["grid_a"]]
    again = client.post("/accounts", json=body, headers=family_world["admin"].headers)
    assert again.status_code == 409


def test_staff_creates_and_updates_a_resident_with_risk_flags(client, family_world):
    worker = family_world["worker_a"]
    body = {
        "full_name": "Li Na",
        "grid_id": family_world["grid_a"],
        "living_alone": True,
        "medical_notes": "type 2 diabetes",
    }
    created = client.post("/residents", json=body, headers=worker.headers)
    assert created.status_code == 201, created.text
    rid = created.json()["resident_id"]
    patched = client.patch(f"/residents/{rid}", json={"low_income": True}, headers=worker.headers)
    assert patched.json()["low_income"] is True and patched.json()["living_alone"] is True


def test_grid_worker_cannot_place_resident_in_another_grid(client, family_world):
    body = {"full_name": "Zhao Lei", "grid_id": family_world["grid_b"]}
    resp = client.post("/residents", json=body, headers=family_world["worker_a"].headers)
    assert resp.status_code == 403


@pytest.mark.parametrize("who", ["fam_a", "worker_a"])
def test_others_resident_is_the_same_404_as_a_missing_one(client, family_world, who):
    actor = family_world[who]
    own = client.get(f"/residents/{family_world['res_a']}", headers=actor.headers)
    other = client.get(f"/residents/{family_world['res_b']}", headers=actor.headers)
    missing = client.get("/residents/999999999", headers=actor.headers)
    assert own.status_code == 200
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["code"] == missing.json()["error"]["code"]
    assert other.json()["error"]["message"] == missing.json()["error"]["message"]


def test_resident_list_shows_only_what_the_caller_may_see(client, family_world):
    fam_ids = {
        r["resident_id"]
        for r in client.get("/residents", headers=family_world["fam_a"].headers).json()["items"]
    }
    worker_ids = {
        r["resident_id"]
        for r in client.get(
            "/residents?limit=100", headers=family_world["worker_b"].headers
        ).json()["items"]
    }
    assert fam_ids == {family_world["res_a"]}
    assert family_world["res_b"] in worker_ids and family_world["res_a"] not in worker_ids


def test_volunteer_sees_no_resident(client, family_world):
    resp = client.get(
        f"/residents/{family_world['res_a']}", headers=family_world["volunteer"].headers
    )
    assert resp.status_code == 403


def test_family_member_cannot_edit_a_resident(client, family_world):
    resp = client.patch(
        f"/residents/{family_world['res_a']}",
        json={"disabled": True},
        headers=family_world["fam_a"].headers,
    )
    assert resp.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/residents/{rid}", {"disabled": True}),
        ("get", "/residents/{rid}/contacts", None),
        ("post", "/residents/{rid}/contacts", {"name": "Son", "phone": "13800000000"}),
        ("get", "/residents/{rid}/family-links", None),
        ("get", "/residents/{rid}/thresholds", None),
        ("put", "/residents/{rid}/thresholds", {"overrides": {"tachycardia_bpm": 130}}),
        ("get", "/residents/{rid}/location/latest", None),
        ("get", "/residents/{rid}/vitals/latest", None),
        (
            "get",
            "/residents/{rid}/location/history?start=2026-11-22T00:00:00Z&end=2026-11-23T00:00:00Z",
            None,
        ),
    ],
)
def test_grid_worker_gets_404_on_every_route_of_another_grids_resident(
    client, family_world, method, path, body
):
    url = path.format(rid=family_world["res_b"])
    resp = client.request(method, url, json=body, headers=family_world["worker_a"].headers)
    assert resp.status_code == 404, resp.text


def test_contacts_and_thresholds_round_trip(client, family_world):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    added = client.post(
        f"/residents/{rid}/contacts",
        json={"name": "Son", "relation": "son", "phone": "13800000000"},
        headers=worker.headers,
    )
    assert added.status_code == 201
    listed = client.get(f"/residents/{rid}/contacts", headers=family_world["fam_a"].headers)
    assert [c["name"] for c in listed.json()["items"]] == ["Son"]
    overrides = {"tachycardia_bpm": 130.0, "fence_dwell_s": 600.0}
    put = client.put(
        f"/residents/{rid}/thresholds", json={"overrides": overrides}, headers=worker.headers
    )
    assert put.status_code == 200
    got = client.get(f"/residents/{rid}/thresholds", headers=worker.headers).json()
    assert got["overrides"] == overrides and got["updated_by"] == worker.account_id
    assert got["defaults"]["tachycardia_bpm"] == 120
    cid = added.json()["contact_id"]
    assert (
        client.delete(f"/residents/{rid}/contacts/{cid}", headers=worker.headers).status_code == 204
    )


def test_family_link_needs_a_family_account_and_records_consent(client, family_world, make_actor):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    daughter = make_actor("family")
    body = {
        "account_id": daughter.account_id,
        "relation": "daughter",
        "consent_method": "written",
        "consent_note": "form 2026-11-23",
    }
    created = client.post(f"/residents/{rid}/family-links", json=body, headers=worker.headers)
    assert created.status_code == 201
    assert created.json()["consent_recorded_by"] == worker.account_id
    assert client.get(f"/residents/{rid}", headers=daughter.headers).status_code == 200
    body["account_id"] = family_world["volunteer"].account_id
    refused = client.post(f"/residents/{rid}/family-links", json=body, headers=worker.headers)
    assert refused.status_code == 409


def test_family_member_gets_a_full_page_of_their_own_links_among_many(
    client, family_world, make_actor, link_family
):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    for _ in range(3):  # siblings linked after fam_a, before the cousin
        link_family(rid, make_actor("family").account_id)
    cousin = make_actor("family")
    cousin_link = link_family(rid, cousin.account_id)
    page = client.get(f"/residents/{rid}/family-links?limit=1", headers=cousin.headers).json()
    assert [link["link_id"] for link in page["items"]] == [cousin_link]
    assert page["next_offset"] is None
    staff = client.get(f"/residents/{rid}/family-links?limit=2", headers=worker.headers).json()
    assert len(staff["items"]) == 2 and staff["next_offset"] == 2


def test_request_body_over_the_limit_is_413(client, family_world):
    huge = {"full_name": "x", "medical_notes": "y" * 200_000}
    resp = client.post("/residents", json=huge, headers=family_world["admin"].headers)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"


def test_patch_cannot_null_a_required_field(client, family_world):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    resp = client.patch(
        f"/residents/{rid}", json={"full_name": None, "living_alone": None}, headers=worker.headers
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["detail"]["fields"] == ["full_name", "living_alone"]
    cleared = client.patch(f"/residents/{rid}", json={"phone": None}, headers=worker.headers)
    assert cleared.status_code == 200 and cleared.json()["phone"] is None


@pytest.mark.parametrize("zone", ["Asia/Beijing", "UTC+8", "Etc/GMT-8"])
def test_resident_time_zone_must_be_an_iana_place_name(client, family_world, zone):
    worker = family_world["worker_a"]
    body = {"full_name": "Wang Fang", "grid_id": family_world["grid_a"], "timezone": zone}
    created = client.post("/residents", json=body, headers=worker.headers)
    assert created.status_code == 422
    assert "such as Asia/Shanghai" in created.json()["error"]["detail"]["errors"][0]["msg"]
    rid = family_world["res_a"]
    patched = client.patch(f"/residents/{rid}", json={"timezone": zone}, headers=worker.headers)
    assert patched.status_code == 422


def test_resident_time_zone_is_set_and_changed(client, family_world):
    worker = family_world["worker_a"]
    body = {"full_name": "Ma Lin", "grid_id": family_world["grid_a"], "timezone": "Asia/Shanghai"}
    created = client.post("/residents", json=body, headers=worker.headers)
    assert created.status_code == 201 and created.json()["timezone"] == "Asia/Shanghai"
    rid = created.json()["resident_id"]
    patched = client.patch(
        f"/residents/{rid}", json={"timezone": "Asia/Urumqi"}, headers=worker.headers
    )
    assert patched.status_code == 200 and patched.json()["timezone"] == "Asia/Urumqi"
    cleared = client.patch(f"/residents/{rid}", json={"timezone": None}, headers=worker.headers)
    assert cleared.status_code == 422


def test_resident_stored_with_a_bad_zone_before_the_check_still_reads(client, family_world, db):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    db.execute("UPDATE residents SET timezone = 'Asia/Beijing' WHERE resident_id = %s", (rid,))
    resp = client.get(f"/residents/{rid}", headers=worker.headers)
    assert resp.status_code == 200 and resp.json()["timezone"] == "Asia/Beijing"
    fixed = client.patch(
        f"/residents/{rid}", json={"timezone": "Asia/Shanghai"}, headers=worker.headers
    )
    assert fixed.json()["timezone"] == "Asia/Shanghai"


def test_threshold_overrides_are_the_ones_the_engine_reads(client, family_world, db):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    put = client.put(
        f"/residents/{rid}/thresholds",
        json={"overrides": {"tachycardia_bpm": 100}},
        headers=worker.headers,
    )
    assert put.status_code == 200
    params = Params(np.array([rid, rid + 10**9]), load_overrides(db))
    assert params.per_band("tachycardia_bpm").tolist() == [100.0, 120.0]
    cleared = client.put(
        f"/residents/{rid}/thresholds", json={"overrides": {}}, headers=worker.headers
    )
    assert cleared.json()["overrides"] == {}
    params = Params(np.array([rid]), load_overrides(db))
    assert params.per_band("tachycardia_bpm").tolist() == [120.0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hr_high": 120}, "unknown threshold 'hr_high'"),
        ({"tachycardia_bpm": -5}, "tachycardia_bpm must be a finite number >= 0"),
        ({"inactivity_deadline_h": 30}, "inactivity_deadline_h is an hour of the day"),
        ({"tachycardia_bpm": "fast"}, "valid number"),
    ],
)
def test_threshold_overrides_the_engine_cannot_use_are_refused(
    client, family_world, overrides, message
):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    before = client.get(f"/residents/{rid}/thresholds", headers=worker.headers).json()
    resp = client.put(
        f"/residents/{rid}/thresholds", json={"overrides": overrides}, headers=worker.headers
    )
    assert resp.status_code == 422
    assert message in resp.text
    after = client.get(f"/residents/{rid}/thresholds", headers=worker.headers).json()
    assert after["overrides"] == before["overrides"]


def test_a_stored_override_the_engine_does_not_know_still_reads(client, family_world, db):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    db.execute(  # as migration 023 moves a name entered before names were checked
        "INSERT INTO alert_thresholds (resident_id, name, value) VALUES (%s, 'hr_high_bpm', 125)",
        (rid,),
    )
    got = client.get(f"/residents/{rid}/thresholds", headers=worker.headers)
    assert got.status_code == 200 and got.json()["overrides"] == {"hr_high_bpm": 125.0}
