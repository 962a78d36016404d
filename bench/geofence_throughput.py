"""Points tested per second: our array geofences vs shapely 2 `contains_xy`, same fences/points.

Each point is paired with one resident's polygon fence (most fixes near home, some far).
Ours answers inside / wholly outside (accuracy circle clear of the fence) / ambiguous, from a
per-fence raster of signed-distance bounds, with exact tests (shapely `contains_xy`, edge
distances) only where the raster cannot decide; "containment" runs it with accuracy 0, "with
accuracy" with 5-30 m radii. Shapely is run two ways, as it is typically used: one call per
fence over that fence's points (prepared geometries), and one call over per-point geometry
arrays; the last line is shapely's equivalent of "with accuracy" (`contains_xy`, then
`distance` in each fence's local metres), for comparison and as a check of our states.
Usage: python bench/geofence_throughput.py [points]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import shapely
from timing import best_of

from alerting.geo.fences import (
    AMBIGUOUS,
    INSIDE,
    OUTSIDE,
    FenceSpec,
    build_fence_set,
    classify_points,
)
from eldercare.geodesy import EARTH_RADIUS_M

M_PER_DEG = 111_195.0


def make_fences(rng: np.random.Generator, n_fences: int):
    specs, rings = [], []
    for i in range(n_fences):
        lat0, lon0 = 41.0 + rng.uniform(0, 0.5), 122.8 + rng.uniform(0, 0.5)
        k = int(rng.integers(6, 21))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        radius = rng.uniform(80, 400) * rng.uniform(0.6, 1.0, k)
        lat = lat0 + radius * np.sin(angles) / M_PER_DEG
        lon = lon0 + radius * np.cos(angles) / (M_PER_DEG * np.cos(np.radians(lat0)))
        ring = np.column_stack([lon, lat])
        ring = np.vstack([ring, ring[:1]])
        rings.append(ring)
        specs.append(FenceSpec(i, i, "polygon", ring=ring.tolist()))
    return specs, rings


def main() -> None:
    n_points = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(5)
    specs, rings = make_fences(rng, 2000)
    fence_idx = np.sort(rng.integers(0, len(specs), n_points))
    centre = np.array([r[:-1].mean(axis=0) for r in rings])
    far = rng.random(n_points) < 0.2  # a fifth of fixes away from home
    spread = np.where(far, 3000.0, 250.0) / M_PER_DEG
    lon = centre[fence_idx, 0] + rng.normal(0, 1, n_points) * spread / np.cos(np.radians(41.2))
    lat = centre[fence_idx, 1] + rng.normal(0, 1, n_points) * spread

    build_start = time.perf_counter()
    fences = build_fence_set(specs)
    build_s = time.perf_counter() - build_start
    acc = rng.uniform(5, 30, n_points)
    ours_s, state = best_of(lambda: classify_points(fences, fence_idx, lat, lon, 0.0))
    ours_acc_s, state_acc = best_of(lambda: classify_points(fences, fence_idx, lat, lon, acc))
    polygons = shapely.polygons([shapely.linearrings(r) for r in rings])
    shapely.prepare(polygons)
    bounds = np.searchsorted(fence_idx, np.arange(len(specs) + 1))

    def per_fence():
        out = np.empty(n_points, dtype=bool)
        for f in range(len(specs)):
            a, b = bounds[f], bounds[f + 1]
            out[a:b] = shapely.contains_xy(polygons[f], lon[a:b], lat[a:b])
        return out

    per_fence_s, inside_a = best_of(per_fence)
    per_point_s, inside_b = best_of(lambda: shapely.contains_xy(polygons[fence_idx], lon, lat))
    agree = np.mean((state == INSIDE) == inside_a)
    k_lat = np.pi / 180.0 * EARTH_RADIUS_M
    k_lon = k_lat * np.cos(np.radians(fences.origin_lat))
    polygons_m = shapely.polygons(
        [
            shapely.linearrings(
                (r[:, 0] - fences.origin_lon[i]) * k_lon[i],
                (r[:, 1] - fences.origin_lat[i]) * k_lat,
            )
            for i, r in enumerate(rings)
        ]
    )

    def shapely_with_accuracy():
        inside = shapely.contains_xy(polygons[fence_idx], lon, lat)
        x = (lon - fences.origin_lon[fence_idx]) * k_lon[fence_idx]
        y = (lat - fences.origin_lat[fence_idx]) * k_lat
        gap = shapely.distance(polygons_m[fence_idx], shapely.points(x, y))
        return np.where(inside, INSIDE, np.where(gap >= acc, OUTSIDE, AMBIGUOUS))

    shapely_acc_s, expected_acc = best_of(shapely_with_accuracy)
    agree_acc = np.mean(state_acc == expected_acc)
    base_s = min(per_fence_s, per_point_s)
    print(f"points={n_points} fences={len(specs)} (polygons, 6-20 vertices)")
    print(f"fence raster build     : {build_s * 1000:8.1f} ms (once per fence change)")
    for name, secs in (
        ("ours, containment", ours_s),
        ("ours, with accuracy", ours_acc_s),
        ("shapely, per fence", per_fence_s),
        ("shapely, per point", per_point_s),
        ("shapely, with accuracy", shapely_acc_s),
    ):
        print(f"{name:23s}: {secs * 1000:8.1f} ms  {n_points / secs:14,.0f} points/s")
    print(f"ours vs best shapely   : {base_s / ours_s:8.2f}x  (target >= 1x)")
    print(f"  the same, with acc.  : {base_s / ours_acc_s:8.2f}x")
    print(f"containment agreement  : {agree * 100:.4f}% of points agree with shapely")
    print(f"with accuracy agreement: {agree_acc * 100:.4f}% of states agree with shapely")


if __name__ == "__main__":
    main()
