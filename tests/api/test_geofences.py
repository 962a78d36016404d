"""Geofences: circles and polygons, WGS-84 or GCJ-02 in, WGS-84 stored, per resident."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pytest

from alerting.engine import Engine
from alerting.geo.fences import signed_distance_m
from eldercare.datum import gcj02_to_wgs84, wgs84_to_gcj02

SQUARE = [[[122.99, 41.10], [123.00, 41.10], [123.00, 41.11], [122.99, 41.11], [122.99, 41.10]]]


def test_family_draws_a_gcj02_circle_stored_as_wgs84(client, family_world, db):
    rid = family_world["res_a"]
    body = {
        "name": "home",
        "crs": "gcj02",
        "radius_m": 200,
        "geometry": {"type": "Point", "coordinates": [123.0, 41.1]},
        "schedule": {"active_from": "22:00:00", "active_until": "06:00:00"},
    }
    resp = client.post(
        f"/residents/{rid}/geofences", json=body, headers=family_world["fam_a"].headers
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["geometry"]["coordinates"] == pytest.approx([123.0, 41.1], abs=1e-7)
    stored = db.execute(
        "SELECT center_lat, center_lon, input_crs FROM geofences WHERE geofence_id = %s",
        (resp.json()["geofence_id"],),
    ).fetchone()
    assert stored[:2] == pytest.approx(gcj02_to_wgs84(41.1, 123.0)) and stored[2] == "gcj02"


def test_a_gcj02_fence_is_where_the_engine_looks(client, family_world, db, settings, new_band_ids):
    home = (41.108, 122.994)  # WGS-84: where the resident really is
    g_lat, g_lon = wgs84_to_gcj02(*home)  # what a Chinese map app shows for that spot
    rid = family_world["res_a"]
    (band,) = new_band_ids(1)
    db.execute("UPDATE devices SET resident_id = %s WHERE device_id = %s", (rid, band))
    body = {
        "name": "home",
        "crs": "gcj02",
        "radius_m": 100,
        "geometry": {"type": "Point", "coordinates": [float(g_lon), float(g_lat)]},
    }
    created = client.post(
        f"/residents/{rid}/geofences", json=body, headers=family_world["fam_a"].headers
    )
    assert created.status_code == 201, created.text
    engine = Engine(settings)
    engine.refresh(db, now=datetime.now(UTC))
    (i,) = [
        k for k, fid in enumerate(engine.fences.fence_ids) if fid == created.json()["geofence_id"]
    ]
    distance = signed_distance_m(
        engine.fences, np.array([i]), np.array([home[0]]), np.array([home[1]])
    )
    assert distance[0] < -99  # home is at the centre, not a GCJ-02 offset (hundreds of m) away


def test_polygon_lifecycle(client, family_world):
    rid, worker = family_world["res_a"], family_world["worker_a"]
    body = {"name": "park", "geometry": {"type": "Polygon", "coordinates": SQUARE}}
    created = client.post(f"/residents/{rid}/geofences", json=body, headers=worker.headers)
    assert created.status_code == 201, created.text
    gid = created.json()["geofence_id"]
    body["name"], body["enabled"] = "park (winter)", False
    changed = client.put(f"/residents/{rid}/geofences/{gid}", json=body, headers=worker.headers)
    assert changed.json()["name"] == "park (winter)" and changed.json()["enabled"] is False
    listed = client.get(f"/residents/{rid}/geofences", headers=family_world["fam_a"].headers)
    assert [g["geofence_id"] for g in listed.json()["items"]] == [gid]
    assert (
        client.delete(f"/residents/{rid}/geofences/{gid}", headers=worker.headers).status_code
        == 204
    )
    assert (
        client.get(f"/residents/{rid}/geofences/{gid}", headers=worker.headers).status_code == 404
    )


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "geometry": {"type": "Point", "coordinates": [123.0, 41.1]}},  # no radius
        {"name": "x", "radius_m": 5, "geometry": {"type": "Polygon", "coordinates": SQUARE}},
        {"name": "x", "geometry": {"type": "Polygon", "coordinates": [SQUARE[0][:-1]]}},  # open
        {
            "name": "x",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
            },
        },  # bow-tie
        {"name": "x", "radius_m": 5, "geometry": {"type": "Point", "coordinates": [200, 41]}},
    ],
)
def test_bad_geometries_are_refused(client, family_world, body):
    resp = client.post(
        f"/residents/{family_world['res_a']}/geofences",
        json=body,
        headers=family_world["worker_a"].headers,
    )
    assert resp.status_code == 422


def post_fence(client, family_world, body):
    return client.post(
        f"/residents/{family_world['res_a']}/geofences",
        json=body,
        headers=family_world["worker_a"].headers,
    )


def test_polygon_with_a_hole_is_refused_since_the_engine_would_ignore_it(client, family_world):
    hole = [[122.994, 41.104], [122.996, 41.104], [122.996, 41.106], [122.994, 41.104]]
    body = {"name": "park", "geometry": {"type": "Polygon", "coordinates": [SQUARE[0], hole]}}
    resp = post_fence(client, family_world, body)
    assert resp.status_code == 422
    assert "holes are not supported" in resp.json()["error"]["detail"]["errors"][0]["msg"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PolygonGeometry"]
    assert "holes are not supported" in schema["properties"]["coordinates"]["description"]


def test_schedule_starting_when_it_ends_is_refused_since_it_would_never_be_active(
    client, family_world
):
    body = {
        "name": "home",
        "radius_m": 200,
        "geometry": {"type": "Point", "coordinates": [123.0, 41.1]},
        "schedule": {"active_from": "08:00:00", "active_until": "08:00:00"},
    }
    resp = post_fence(client, family_world, body)
    assert resp.status_code == 422
    assert "leave the schedule out" in resp.json()["error"]["detail"]["errors"][0]["msg"]


def test_schedule_times_are_local_wall_clock_times_without_an_offset(client, family_world):
    body = {
        "name": "home",
        "radius_m": 200,
        "geometry": {"type": "Point", "coordinates": [123.0, 41.1]},
        "schedule": {"active_from": "17:33:32.8114Z", "active_until": "06:00"},
    }
    resp = post_fence(client, family_world, body)
    assert resp.status_code == 422
    assert "no UTC offset" in resp.json()["error"]["detail"]["errors"][0]["msg"]
    body["schedule"] = {"active_from": "22:00", "active_until": "06:00:30.5"}
    stored = post_fence(client, family_world, body)
    assert stored.status_code == 201, stored.text
    # What the API answers matches what its schema says (the fuzzer found it did not).
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Schedule"]
    pattern = re.compile(schema["properties"]["active_from"]["pattern"])
    answered = stored.json()["schedule"]
    assert answered == {"active_from": "22:00:00", "active_until": "06:00:30.500000"}
    assert all(pattern.match(value) for value in answered.values())


def test_geofences_of_another_resident_are_404(client, family_world):
    body = {"name": "x", "radius_m": 50, "geometry": {"type": "Point", "coordinates": [123, 41]}}
    created = client.post(
        f"/residents/{family_world['res_b']}/geofences",
        json=body,
        headers=family_world["fam_b"].headers,
    ).json()
    gid, rid_b, fam_a = created["geofence_id"], family_world["res_b"], family_world["fam_a"]
    assert client.get(f"/residents/{rid_b}/geofences", headers=fam_a.headers).status_code == 404
    assert (
        client.put(
            f"/residents/{rid_b}/geofences/{gid}", json=body, headers=fam_a.headers
        ).status_code
        == 404
    )
    assert (
        client.delete(f"/residents/{rid_b}/geofences/{gid}", headers=fam_a.headers).status_code
        == 404
    )
    # Through one's own resident, another resident's geofence id does not resolve either.
    rid_a = family_world["res_a"]
    assert (
        client.get(f"/residents/{rid_a}/geofences/{gid}", headers=fam_a.headers).status_code == 404
    )
