"""Family location and vitals: reach, consent, audit, datum, bounds, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from api.location.retention import purge_expired_fixes
from eldercare import keys
from eldercare.datum import wgs84_to_gcj02

LAT, LON = 41.108, 122.994


def _put_latest(redis_client, settings, device_id, *, fix_ms, battery="64"):
    redis_client.hset(
        keys.band_state(settings.redis_prefix, device_id),
        mapping={
            "fix_t": fix_ms,
            "lat": LAT,
            "lon": LON,
            "acc_m": "12.5",
            "src": "gnss",
            "online": "1",
            "battery": battery,
            "last_seen": fix_ms,
            "vitals_t": fix_ms,
            "hr": "72",
            "sbp": "128",
            "dbp": "82",
            "steps": "3410",
            "worn": "1",
        },
    )


def _audit_rows(db, account_id):
    return db.execute(
        "SELECT resident_id, action, purpose, role FROM audit_log WHERE account_id = %s "
        "ORDER BY audit_id",
        (account_id,),
    ).fetchall()


def test_family_member_sees_latest_location_with_accuracy_and_age(
    client, family_world, bind_band, redis_client, api_settings, db
):
    rid, fam = family_world["res_a"], family_world["fam_a"]
    device_id = bind_band(rid)
    fix_ms = int((datetime.now(UTC) - timedelta(seconds=30)).timestamp() * 1000)
    _put_latest(redis_client, api_settings, device_id, fix_ms=fix_ms)
    resp = client.get(f"/residents/{rid}/location/latest", headers=fam.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["device_id"] == device_id and body["fix"]["lat"] == LAT
    assert body["fix"]["acc_m"] == 12.5 and 29 <= body["fix"]["age_s"] < 60
    assert body["online"] is True and body["battery"] == 64
    assert _audit_rows(db, fam.account_id) == [(rid, "location.latest", "family_care", "family")]


def test_latest_location_in_gcj02_for_chinese_map_sdks(
    client, family_world, bind_band, redis_client, api_settings
):
    rid = family_world["res_a"]
    device_id = bind_band(rid)
    _put_latest(
        redis_client, api_settings, device_id, fix_ms=int(datetime.now(UTC).timestamp() * 1000)
    )
    body = client.get(
        f"/residents/{rid}/location/latest?datum=gcj02", headers=family_world["fam_a"].headers
    ).json()
    assert body["datum"] == "gcj02"
    assert (body["fix"]["lat"], body["fix"]["lon"]) == wgs84_to_gcj02(LAT, LON)


def test_family_member_cannot_see_other_residents_location(client, family_world, bind_band, db):
    bind_band(family_world["res_b"])
    fam = family_world["fam_a"]
    for path in (
        "location/latest",
        "vitals/latest",
        "location/history?start=2026-11-22T00:00:00Z&end=2026-11-23T00:00:00Z",
    ):
        resp = client.get(f"/residents/{family_world['res_b']}/{path}", headers=fam.headers)
        assert resp.status_code == 404
    assert _audit_rows(db, fam.account_id) == []


def test_consent_withdrawal_cuts_access_at_once(client, family_world, bind_band, db):
    rid, fam = family_world["res_a"], family_world["fam_a"]
    bind_band(rid)
    assert client.get(f"/residents/{rid}/location/latest", headers=fam.headers).status_code == 200
    link_id = client.get(f"/residents/{rid}/family-links", headers=fam.headers).json()["items"][0][
        "link_id"
    ]
    withdrawn = client.post(
        f"/residents/{rid}/family-links/{link_id}/withdraw",
        headers=family_world["worker_a"].headers,
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"] is not None
    assert client.get(f"/residents/{rid}/location/latest", headers=fam.headers).status_code == 404
    assert client.get(f"/residents/{rid}", headers=fam.headers).status_code == 404


def test_family_member_may_withdraw_own_consent_but_not_anothers(
    client, family_world, make_actor, link_family
):
    rid, fam = family_world["res_a"], family_world["fam_a"]
    sibling = make_actor("family")
    sibling_link = link_family(rid, sibling.account_id)
    refused = client.post(
        f"/residents/{rid}/family-links/{sibling_link}/withdraw", headers=fam.headers
    )
    assert refused.status_code == 404
    own = client.post(
        f"/residents/{rid}/family-links/{sibling_link}/withdraw", headers=sibling.headers
    )
    assert own.status_code == 200
    assert client.get(f"/residents/{rid}", headers=sibling.headers).status_code == 404


def test_vitals_read_is_audited_with_the_stated_purpose(
    client, family_world, bind_band, redis_client, api_settings, db
):
    rid, duty = family_world["res_a"], family_world["duty"]
    device_id = bind_band(rid)
    _put_latest(
        redis_client, api_settings, device_id, fix_ms=int(datetime.now(UTC).timestamp() * 1000)
    )
    resp = client.get(f"/residents/{rid}/vitals/latest?purpose=sos-follow-up", headers=duty.headers)
    assert resp.status_code == 200 and resp.json()["hr"] == 72 and resp.json()["worn"] is True
    assert _audit_rows(db, duty.account_id) == [
        (rid, "vitals.latest", "sos-follow-up", "duty_staff")
    ]


def test_location_history_is_bounded_paged_and_audited(client, family_world, bind_band, db):
    rid, fam = family_world["res_a"], family_world["fam_a"]
    device_id = bind_band(rid)
    base = datetime(2026, 11, 22, 8, tzinfo=UTC)
    with db.cursor() as cur:
        for i in range(5):
            cur.execute(
                """INSERT INTO location_fixes (device_id, t, lat, lon, acc_m, src, received_at)
                           VALUES (%s, %s, %s, %s, 10, 'gnss', now())""",
                (device_id, base + timedelta(minutes=i), LAT, LON + i * 0.001),
            )
    url = f"/residents/{rid}/location/history?start=2026-11-22T00:00:00Z&end=2026-11-23T00:00:00Z"
    first = client.get(url + "&limit=3", headers=fam.headers).json()
    second = client.get(url + "&limit=3&offset=3", headers=fam.headers).json()
    assert [round(f["lon"], 3) for f in first["items"] + second["items"]] == [
        round(LON + i * 0.001, 3) for i in range(5)
    ]
    assert first["next_offset"] == 3 and second["next_offset"] is None
    too_long = client.get(
        f"/residents/{rid}/location/history?start=2026-10-01T00:00:00Z&end=2026-11-23T00:00:00Z",
        headers=fam.headers,
    )
    assert too_long.status_code == 422
    actions = [row[1] for row in _audit_rows(db, fam.account_id)]
    assert actions == ["location.history", "location.history"]


def test_location_lookups_are_rate_limited(client, family_world, bind_band):
    rid, fam = family_world["res_a"], family_world["fam_a"]
    bind_band(rid)
    limiter = client.app.state.location_limiter
    saved, limiter.per_minute = limiter.per_minute, 2
    try:
        codes = [
            client.get(f"/residents/{rid}/location/latest", headers=fam.headers).status_code
            for _ in range(4)
        ]
    finally:
        limiter.per_minute = saved
    assert codes[:2] == [200, 200] and codes[2:] == [429, 429]


def test_location_history_past_retention_is_deleted(db, database_url, new_band_ids):
    (device_id,) = new_band_ids(1)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    with db.cursor() as cur:
        for age_days in (40, 31, 29, 1):
            cur.execute(
                """INSERT INTO location_fixes (device_id, t, lat, lon, acc_m, src, received_at)
                           VALUES (%s, %s, 41.1, 122.9, 10, 'gnss', now())""",
                (device_id, now - timedelta(days=age_days)),
            )

    with psycopg.connect(database_url, autocommit=True) as conn:
        purged = purge_expired_fixes(conn=conn, retention_days=30, now=now)
    assert purged.chunks_dropped >= 2  # the days of the 40- and 31-day-old fixes, whole
    kept = db.execute(
        "SELECT t FROM location_fixes WHERE device_id = %s ORDER BY t", (device_id,)
    ).fetchall()
    assert [now - row[0] for row in kept] == [timedelta(days=29), timedelta(days=1)]


def test_new_wearer_family_never_sees_the_previous_wearers_positions(
    client, family_world, new_band_ids, redis_client, api_settings, db
):
    (imei,) = new_band_ids(1)
    worker_a, worker_b = family_world["worker_a"], family_world["worker_b"]
    assert client.post(f"/devices/{imei}/bind", json={"resident_id": family_world["res_a"]},
                       headers=worker_a.headers).status_code == 200  # fmt: skip
    before = datetime.now(UTC) - timedelta(seconds=5)
    _put_latest(redis_client, api_settings, imei, fix_ms=int(before.timestamp() * 1000))
    db.execute("""INSERT INTO location_fixes (device_id, t, lat, lon, acc_m, src, received_at)
                  VALUES (%s, %s, 41.1, 122.9, 10, 'gnss', now())""", (imei, before))  # fmt: skip
    # The band is handed to resident B.
    client.post(f"/devices/{imei}/unbind", headers=worker_a.headers)
    rebound = client.post(f"/devices/{imei}/bind", json={"resident_id": family_world["res_b"]},
                          headers=worker_b.headers)  # fmt: skip
    assert rebound.status_code == 200
    fam_b, rid_b = family_world["fam_b"], family_world["res_b"]
    latest = client.get(f"/residents/{rid_b}/location/latest", headers=fam_b.headers).json()
    assert latest["device_id"] == imei and latest["fix"] is None
    vitals = client.get(f"/residents/{rid_b}/vitals/latest", headers=fam_b.headers).json()
    assert vitals["hr"] is None
    start = (before - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    history = client.get(f"/residents/{rid_b}/location/history", params={"start": start},
                         headers=fam_b.headers).json()  # fmt: skip
    assert history["items"] == []
