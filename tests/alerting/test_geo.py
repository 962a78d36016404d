"""Datum conversion and geofence geometry (pure arrays), plus geofence scenarios in the engine."""

from __future__ import annotations

from datetime import time, timedelta

import numpy as np
import shapely
from psycopg.types.json import Jsonb

from alerting.alerts import service as alerts
from alerting.engine import apply_findings
from alerting.geo.datum import gcj02_to_wgs84, wgs84_to_gcj02
from alerting.geo.fences import (
    AMBIGUOUS,
    INSIDE,
    OUTSIDE,
    FenceSpec,
    build_fence_set,
    classify_points,
    signed_distance_m,
)
from eldercare.geodesy import EARTH_RADIUS_M
from tests.alerting.factories import HOME, T0, insert_fixes, make_resident, minutes

M_PER_DEG_LAT = 111_195.0


def offset(lat, lon, north_m, east_m):
    north_m, east_m = np.broadcast_arrays(np.asarray(north_m, float), np.asarray(east_m, float))
    return (lat + north_m / M_PER_DEG_LAT, lon + east_m / (M_PER_DEG_LAT * np.cos(np.radians(lat))))


def test_gcj02_round_trip_and_known_offset():
    lat, lon = np.array([39.9087, 31.2304, 41.108]), np.array([116.3975, 121.4737, 122.994])
    g_lat, g_lon = wgs84_to_gcj02(lat, lon)
    shift_m = np.hypot(
        (g_lat - lat) * M_PER_DEG_LAT, (g_lon - lon) * M_PER_DEG_LAT * np.cos(np.radians(lat))
    )
    assert ((shift_m > 100) & (shift_m < 700)).all()  # hundreds of metres in China
    back_lat, back_lon = gcj02_to_wgs84(g_lat, g_lon)
    assert np.abs(back_lat - lat).max() < 1e-7 and np.abs(back_lon - lon).max() < 1e-7
    # Outside mainland China the datums coincide.
    assert tuple(map(float, wgs84_to_gcj02(51.5, -0.12))) == (51.5, -0.12)


def test_polygon_containment_agrees_with_shapely():
    rng = np.random.default_rng(1)
    ring = [
        (122.990, 41.105),
        (122.998, 41.105),
        (122.999, 41.110),
        (122.994, 41.113),
        (122.990, 41.110),
        (122.993, 41.108),
    ]  # concave
    fences = build_fence_set([FenceSpec(1, 1, "polygon", ring=ring)])
    lon = rng.uniform(122.985, 123.003, 20_000)
    lat = rng.uniform(41.100, 41.118, 20_000)
    sd = signed_distance_m(fences, np.zeros(len(lat), dtype=np.int64), lat, lon)
    expected = shapely.contains_xy(shapely.Polygon(ring), lon, lat)
    near_edge = np.abs(sd) < 0.5  # projection differences at centimetre level
    assert ((sd < 0) == expected)[~near_edge].all()


def _edge_test_fences(rng):
    """Concave stars, tiny and thin fences, an axis-aligned square: rings (lon, lat), closed."""
    rings = []
    for i in range(60):
        lat0, lon0 = 41.1 + 0.01 * i, 122.9 + 0.003 * i
        k = int(rng.integers(3, 25))
        scale = [0.5, 3.0, 40.0, 300.0][i % 4]  # metres: tiny to street-sized
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        radius = scale * rng.uniform(0.2, 1.0, k)  # spiky, mostly concave
        lat, lon = offset(lat0, lon0, radius * np.sin(angles), radius * np.cos(angles))
        rings.append(np.column_stack([lon, lat]))
    lat, lon = offset(41.3, 123.1, np.array([0, 0, 1, 1]) * 50.0, np.array([0, 2, 2, 0]) * 50.0)
    rings.append(np.column_stack([lon, lat]))  # axis-aligned: edges along the ray direction
    lat, lon = offset(41.4, 123.2, np.array([0, 0.2, 0.2, 0.0]), np.array([0, 0, 200, 200.0]))
    rings.append(np.column_stack([lon, lat]))  # 20 cm wide, 200 m long
    return [np.vstack([r, r[:1]]) for r in rings]


def _points_near_edges(rng, rings):
    """Per fence: its vertices, points on its edges, and points within metres of them."""
    fence, lat, lon = [], [], []
    for i, ring in enumerate(rings):
        a, b = ring[:-1], ring[1:]
        t = rng.uniform(0, 1, (40, len(a), 1))
        on_edge = (a + t * (b - a)).reshape(-1, 2)
        midpoints = (a + b) / 2  # exactly on the axis-aligned square's edges
        near = np.repeat(on_edge[:400], 4, axis=0)
        shift_m = rng.normal(0, 1, (len(near), 2)) * rng.choice(
            [0.01, 0.3, 5.0, 40.0], (len(near), 1)
        )
        n_lat, n_lon = offset(near[:, 1], near[:, 0], shift_m[:, 0], shift_m[:, 1])
        pts = np.vstack([a, midpoints, on_edge, np.column_stack([n_lon, n_lat])])
        fence.append(np.full(len(pts), i))
        lon.append(pts[:, 0])
        lat.append(pts[:, 1])
    return np.concatenate(fence), np.concatenate(lat), np.concatenate(lon)


def test_fast_classification_agrees_with_shapely_near_fence_edges():
    rng = np.random.default_rng(7)
    rings = _edge_test_fences(rng)
    fences = build_fence_set(
        [FenceSpec(i, i, "polygon", ring=r.tolist()) for i, r in enumerate(rings)]
    )
    f, lat, lon = _points_near_edges(rng, rings)
    acc = rng.choice([0.0, 0.05, 1.0, 5.0, 30.0], len(f)) * rng.uniform(0.5, 1.0, len(f))
    acc[rng.random(len(f)) < 0.2] = 0.0
    # Shapely's answers: containment on the fence as drawn; distance in the fence's local metres.
    inside = shapely.contains_xy(np.array([shapely.Polygon(r) for r in rings])[f], lon, lat)
    k_lat = np.pi / 180 * EARTH_RADIUS_M
    k_lon = k_lat * np.cos(np.radians(fences.origin_lat))
    rings_m = [
        np.column_stack(
            [(r[:, 0] - fences.origin_lon[i]) * k_lon[i], (r[:, 1] - fences.origin_lat[i]) * k_lat]
        )
        for i, r in enumerate(rings)
    ]
    x, y = (lon - fences.origin_lon[f]) * k_lon[f], (lat - fences.origin_lat[f]) * k_lat
    gap = shapely.distance(np.array([shapely.Polygon(r) for r in rings_m])[f], shapely.points(x, y))
    expected = np.where(inside, INSIDE, np.where(gap >= acc, OUTSIDE, AMBIGUOUS))

    assert (classify_points(fences, f, lat, lon, 0.0) == INSIDE).tolist() == inside.tolist()
    state = classify_points(fences, f, lat, lon, acc)
    tie = (acc > 0) & (np.abs(gap - acc) < 1e-6)  # two float computations of one distance
    assert (state == expected)[~tie].all()
    assert tie.sum() < 5
    on_boundary = (gap == 0) & ~inside  # on an edge or vertex (metres): not contained
    assert on_boundary.sum() > 500 and (state[on_boundary & (acc > 0)] == AMBIGUOUS).all()
    assert min(np.bincount(state, minlength=3)) > 10_000


def test_gcj02_fence_is_stored_where_it_really_is():
    g_lat, g_lon = wgs84_to_gcj02(*HOME)
    fence = build_fence_set(
        [FenceSpec(1, 1, "circle", float(g_lat), float(g_lon), 100.0, input_crs="gcj02")]
    )
    sd = signed_distance_m(fences := fence, np.array([0]), np.array([HOME[0]]), np.array([HOME[1]]))
    assert sd[0] < -99  # home (WGS-84) is at the centre of the fence drawn in GCJ-02
    assert fences.origin_lat[0] == np.float64(fences.origin_lat[0])


def _fence_scenario(db, engine, band, fixes_m, *, acc=10.0, schedule=None, step_s=60):
    resident = make_resident(db, band)
    db.execute(
        """INSERT INTO geofences (resident_id, name, shape, center_lat, center_lon, radius_m,
               active_from, active_until) VALUES (%s, 'home', 'circle', %s, %s, 150, %s, %s)""",
        (resident, *HOME, *(schedule or (None, None))),
    )
    t = minutes(T0, len(fixes_m), step_s)
    lat, lon = offset(HOME[0], HOME[1], np.array(fixes_m, dtype=float), 0.0)
    insert_fixes(db, band, t, lat, lon, np.full(len(t), acc))
    raised = []
    for i in range(len(t)):
        now = t[i] + timedelta(seconds=5)
        engine.refresh(db, now=now)
        raised += apply_findings(db, engine.evaluate_bands(db, now=now, device_ids=[band]), now=now)
    return [a for a in alerts.list_alerts(db, rule="geofence_exit")]


def test_wandering_out_raises_one_exit_after_dwell(clean_alerts, engine, new_band_ids):
    (band,) = new_band_ids(1)
    path = [0, 50, 100, 300, 400, 500, 600, 700, 800, 900, 950, 1000]
    exits = _fence_scenario(clean_alerts, engine, band, path)
    assert len(exits) == 1
    first = exits[0]["first_seen_at"]
    # 300 m from the centre at minute 3; 5 minutes of dwell later.
    assert T0 + timedelta(minutes=8) <= first <= T0 + timedelta(minutes=9)


def test_gps_jitter_at_the_fence_edge_does_not_flap(clean_alerts, engine, new_band_ids):
    (band,) = new_band_ids(1)
    rng = np.random.default_rng(3)
    path = 150 + rng.normal(0, 25, 30)  # hovering on the boundary, accuracy 40 m
    assert _fence_scenario(clean_alerts, engine, band, path, acc=40.0) == []


def test_impossible_jump_is_ignored(clean_alerts, engine, new_band_ids):
    (band,) = new_band_ids(1)
    path = [0, 10, 5000, 20, 10, 5000, 15, 0, 10, 20]  # cell-tower teleports
    assert _fence_scenario(clean_alerts, engine, band, path) == []


def test_night_only_fence_ignores_daytime_walks(clean_alerts, engine, new_band_ids):
    (band,) = new_band_ids(1)
    # T0 is 08:00 local: a walk at 08:00-08:12 with a 22:00-06:00 fence raises nothing.
    path = [0, 300, 500, 700, 900, 1000, 1000, 1000, 1000, 1000, 1000, 1000]
    assert _fence_scenario(clean_alerts, engine, band, path, schedule=(time(22), time(6))) == []


def test_night_wandering_raises_one_exit(clean_alerts, engine, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    resident = make_resident(db, band)
    ring = [
        [
            [HOME[1] - 0.002, HOME[0] - 0.002],
            [HOME[1] + 0.002, HOME[0] - 0.002],
            [HOME[1] + 0.002, HOME[0] + 0.002],
            [HOME[1] - 0.002, HOME[0] + 0.002],
            [HOME[1] - 0.002, HOME[0] - 0.002],
        ]
    ]
    db.execute(
        """INSERT INTO geofences (resident_id, name, shape, polygon, active_from, active_until)
           VALUES (%s, 'home at night', 'polygon', %s, '22:00', '06:00')""",
        (resident, Jsonb(ring)),
    )
    start = T0 - timedelta(hours=6)  # 02:00 local
    t = minutes(start, 20, 60)
    north = np.concatenate([np.zeros(5), np.linspace(300, 800, 15)])
    lat, lon = offset(HOME[0], HOME[1], north, 0.0)
    insert_fixes(db, band, t, lat, lon, np.full(20, 12.0))
    for i in range(len(t)):
        now = t[i] + timedelta(seconds=5)
        engine.refresh(db, now=now)
        apply_findings(db, engine.evaluate_bands(db, now=now, device_ids=[band]), now=now)
    exits = alerts.list_alerts(db, rule="geofence_exit")
    assert len(exits) == 1 and exits[0]["severity"] == 3
