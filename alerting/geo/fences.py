"""Geofences as arrays: signed distance of many fixes to many fences in one pass.

Each fence gets a local tangent plane (metres east/north of its own origin), fine for fences
of a few kilometres. Polygons are flattened into one edge table, so testing N (fix, fence)
pairs is a handful of numpy operations over the pairs' edges, whatever the fences' shapes.
Signed distance is negative inside; a fix is *wholly outside* when its accuracy circle does not
touch the fence (signed distance >= accuracy), *inside* when the point itself is inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alerting.geo.datum import to_wgs84

EARTH_RADIUS_M = 6371008.8
_DEG = np.pi / 180.0

INSIDE, AMBIGUOUS, OUTSIDE = 0, 1, 2
GRID = 24  # raster cells per side of a polygon's bounding box


def _empty() -> np.ndarray:
    return np.zeros(0)


@dataclass(frozen=True)
class FenceSpec:
    """One fence as stored: a circle (lat, lon, radius) or a polygon ring [(lon, lat), ...]."""

    fence_id: int
    resident_id: int
    shape: str
    center_lat: float | None = None
    center_lon: float | None = None
    radius_m: float | None = None
    ring: Sequence[Sequence[float]] | None = None  # GeoJSON order: (lon, lat)
    input_crs: str = "wgs84"
    active_from_min: int = -1  # minutes after local midnight; -1 = always active
    active_until_min: int = -1


@dataclass
class FenceSet:
    """Fences flattened into arrays (index = position in `fence_ids`)."""

    fence_ids: np.ndarray
    resident_ids: np.ndarray
    is_circle: np.ndarray
    origin_lat: np.ndarray
    origin_lon: np.ndarray
    radius_m: np.ndarray
    active_from_min: np.ndarray
    active_until_min: np.ndarray
    edge_start: np.ndarray  # per fence, into the edge arrays
    edge_count: np.ndarray
    ex0: np.ndarray  # edges in the owning fence's local metres
    ey0: np.ndarray
    ex1: np.ndarray
    ey1: np.ndarray
    bbox: np.ndarray  # per fence (xmin, ymin, xmax, ymax), local metres
    # Raster of each polygon's bbox: signed distance at cell centres, and each fence's cell
    # half-diagonal. Signed distance changes by at most 1 m per metre moved, so a cell whose
    # centre is further from the edge than its half-diagonal decides all points in it.
    cell_lo: np.ndarray = field(
        default_factory=_empty
    )  # (n_fences * GRID * GRID,) bounds of signed distance
    cell_hi: np.ndarray = field(default_factory=_empty)
    cell_w: np.ndarray = field(default_factory=_empty)  # per fence: cell width, height (m)
    cell_h: np.ndarray = field(default_factory=_empty)
    gx_a: np.ndarray = field(default_factory=_empty)  # per fence: grid x = lon * gx_a + gx_b
    gx_b: np.ndarray = field(default_factory=_empty)
    gy_a: np.ndarray = field(default_factory=_empty)
    gy_b: np.ndarray = field(default_factory=_empty)

    def __len__(self) -> int:
        return len(self.fence_ids)


def build_fence_set(specs: Sequence[FenceSpec]) -> FenceSet:
    """Convert fences (any datum) to WGS-84 and flatten them; runs once per fence reload."""
    n = len(specs)
    origin_lat, origin_lon = np.zeros(n), np.zeros(n)
    radius, is_circle = np.zeros(n), np.zeros(n, dtype=bool)
    edge_start, edge_count = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    bbox = np.zeros((n, 4))
    edges: list[np.ndarray] = []
    offset = 0
    for i, spec in enumerate(specs):
        if spec.shape == "circle":
            lat, lon = to_wgs84(
                float(spec.center_lat or 0), float(spec.center_lon or 0), spec.input_crs
            )
            origin_lat[i], origin_lon[i] = float(lat), float(lon)
            radius[i], is_circle[i] = float(spec.radius_m or 0), True
            bbox[i] = (-radius[i], -radius[i], radius[i], radius[i])
            continue
        ring = np.asarray(spec.ring, dtype=float)
        lat, lon = to_wgs84(ring[:, 1], ring[:, 0], spec.input_crs)
        origin_lat[i], origin_lon[i] = float(lat.mean()), float(lon.mean())
        x, y = _project(lat, lon, origin_lat[i], origin_lon[i])
        if x[0] != x[-1] or y[0] != y[-1]:
            x, y = np.append(x, x[0]), np.append(y, y[0])
        edges.append(np.column_stack([x[:-1], y[:-1], x[1:], y[1:]]))
        edge_start[i], edge_count[i] = offset, len(x) - 1
        offset += len(x) - 1
        bbox[i] = (x.min(), y.min(), x.max(), y.max())
    table = np.vstack(edges) if edges else np.zeros((0, 4))
    fences = FenceSet(
        fence_ids=np.array([s.fence_id for s in specs], dtype=np.int64),
        resident_ids=np.array([s.resident_id for s in specs], dtype=np.int64),
        is_circle=is_circle,
        origin_lat=origin_lat,
        origin_lon=origin_lon,
        radius_m=radius,
        active_from_min=np.array([s.active_from_min for s in specs], dtype=np.int64),
        active_until_min=np.array([s.active_until_min for s in specs], dtype=np.int64),
        edge_start=edge_start,
        edge_count=edge_count,
        ex0=table[:, 0].copy(),
        ey0=table[:, 1].copy(),
        ex1=table[:, 2].copy(),
        ey1=table[:, 3].copy(),
        bbox=bbox,
    )
    _build_raster(fences)
    return fences


def _build_raster(fences: FenceSet) -> None:
    n = len(fences)
    w = np.maximum((fences.bbox[:, 2] - fences.bbox[:, 0]) / GRID, 1e-6)
    h = np.maximum((fences.bbox[:, 3] - fences.bbox[:, 1]) / GRID, 1e-6)
    centre = np.arange(GRID) + 0.5
    cx = fences.bbox[:, 0, None, None] + centre[None, None, :] * w[:, None, None]
    cy = fences.bbox[:, 1, None, None] + centre[None, :, None] * h[:, None, None]
    cx, cy = np.broadcast_arrays(cx, cy)
    f = np.repeat(np.arange(n), GRID * GRID)
    cell_sd = np.full(n * GRID * GRID, np.inf)
    poly = ~fences.is_circle[f]
    if poly.any():
        cell_sd[poly] = _polygon_signed_distance(
            fences, f[poly], cx.ravel()[poly], cy.ravel()[poly]
        )
    half = np.repeat(0.5 * np.hypot(w, h), GRID * GRID)
    fences.cell_lo, fences.cell_hi = cell_sd - half, cell_sd + half
    fences.cell_w, fences.cell_h = w, h
    # (lat, lon) -> grid coordinates in one multiply-add per axis.
    k_lat = _DEG * EARTH_RADIUS_M
    k_lon = k_lat * np.cos(fences.origin_lat * _DEG)
    fences.gx_a = k_lon / w
    fences.gx_b = (-fences.origin_lon * k_lon - fences.bbox[:, 0]) / w
    fences.gy_a = k_lat / h
    fences.gy_b = (-fences.origin_lat * k_lat - fences.bbox[:, 1]) / h


def classify_points(
    fences: FenceSet, fence_idx: np.ndarray, lat: np.ndarray, lon: np.ndarray, acc_m
) -> np.ndarray:
    """State of each (point, fence) pair: INSIDE, AMBIGUOUS, or OUTSIDE (accuracy circle
    wholly outside). Exact edge tests only for points the raster cannot decide."""
    f = np.asarray(fence_idx, dtype=np.int64)
    n = len(f)
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    acc = np.broadcast_to(np.asarray(acc_m, dtype=float), n)
    gx = lon * fences.gx_a[f] + fences.gx_b[f]
    gy = lat * fences.gy_a[f] + fences.gy_b[f]
    in_box = (gx >= 0) & (gx < GRID) & (gy >= 0) & (gy < GRID)
    ix = np.clip(gx, 0, GRID - 1).astype(np.int64)
    iy = np.clip(gy, 0, GRID - 1).astype(np.int64)
    cell = (f * GRID + iy) * GRID + ix
    lower, upper = fences.cell_lo[cell], fences.cell_hi[cell]
    out = np.flatnonzero(~in_box)
    if len(out):  # beyond the bounding box: its distance is a lower bound
        fo = f[out]
        dx = np.maximum(np.maximum(-gx[out], gx[out] - GRID), 0.0) * fences.cell_w[fo]
        dy = np.maximum(np.maximum(-gy[out], gy[out] - GRID), 0.0) * fences.cell_h[fo]
        lower[out], upper[out] = np.hypot(dx, dy), np.inf
    state = np.full(n, AMBIGUOUS, dtype=np.int8)
    state[upper <= 0] = INSIDE
    state[lower >= acc] = OUTSIDE
    unsure = (upper > 0) & (lower < acc) & ~((lower > 0) & (upper < acc))
    unsure |= fences.is_circle[f]  # circles are exact and cheap
    rows = np.flatnonzero(unsure)
    if len(rows):
        sd = signed_distance_m(fences, f[rows], lat[rows], lon[rows])
        state[rows] = classify(sd, acc[rows])
    return state


def _project(lat, lon, origin_lat, origin_lon) -> tuple[np.ndarray, np.ndarray]:
    x = (np.asarray(lon) - origin_lon) * _DEG * EARTH_RADIUS_M * np.cos(origin_lat * _DEG)
    y = (np.asarray(lat) - origin_lat) * _DEG * EARTH_RADIUS_M
    return x, y


def signed_distance_m(
    fences: FenceSet, fence_idx: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> np.ndarray:
    """Signed distance (m, negative inside) of each point to the fence it is paired with."""
    fence_idx = np.asarray(fence_idx, dtype=np.int64)
    x, y = _project(lat, lon, fences.origin_lat[fence_idx], fences.origin_lon[fence_idx])
    out = np.hypot(x, y) - fences.radius_m[fence_idx]
    poly = np.flatnonzero(~fences.is_circle[fence_idx])
    if len(poly):
        out[poly] = _polygon_signed_distance(fences, fence_idx[poly], x[poly], y[poly])
    return out


def _polygon_signed_distance(fences: FenceSet, f: np.ndarray, x: np.ndarray, y: np.ndarray):
    # Points beyond the bounding box: distance to the box is a lower bound, and it is enough
    # to classify them, so only points near a polygon pay for its edges.
    b = fences.bbox[f]
    dx = np.maximum(np.maximum(b[:, 0] - x, x - b[:, 2]), 0.0)
    dy = np.maximum(np.maximum(b[:, 1] - y, y - b[:, 3]), 0.0)
    result = np.hypot(dx, dy)
    near = np.flatnonzero(result == 0.0)
    if len(near) == 0:
        return result
    f, x, y = f[near], x[near], y[near]
    counts = fences.edge_count[f]
    pair = np.repeat(np.arange(len(f)), counts)
    first = np.cumsum(counts) - counts
    edge = np.repeat(fences.edge_start[f] - first, counts) + np.arange(int(counts.sum()))
    px, py = x[pair], y[pair]
    x0, y0, x1, y1 = fences.ex0[edge], fences.ey0[edge], fences.ex1[edge], fences.ey1[edge]
    # Even-odd crossing count of a ray towards +x.
    straddles = (y0 > py) != (y1 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
    crossings = np.bincount(pair, weights=straddles & (px < x_cross), minlength=len(f))
    # Distance to the nearest edge.
    sx, sy = x1 - x0, y1 - y0
    length2 = sx * sx + sy * sy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(((px - x0) * sx + (py - y0) * sy) / length2, 0.0, 1.0)
    t = np.where(length2 > 0, t, 0.0)
    dist = np.hypot(px - (x0 + t * sx), py - (y0 + t * sy))
    nearest = np.minimum.reduceat(dist, first) if len(dist) else np.zeros(0)
    inside = (crossings % 2) == 1
    result[near] = np.where(inside, -nearest, nearest)
    return result


def classify(signed_m: np.ndarray, acc_m: np.ndarray) -> np.ndarray:
    """INSIDE (point inside), OUTSIDE (accuracy circle wholly outside) or AMBIGUOUS."""
    state = np.full(len(signed_m), AMBIGUOUS, dtype=np.int8)
    state[signed_m <= 0] = INSIDE
    state[signed_m >= np.asarray(acc_m, dtype=float)] = OUTSIDE
    return state


def active_at(fences: FenceSet, fence_idx: np.ndarray, local_minute: np.ndarray) -> np.ndarray:
    """Whether each paired fence is in force at the fix's local minute of day."""
    start = fences.active_from_min[fence_idx]
    end = fences.active_until_min[fence_idx]
    always = start < 0
    same_day = (start <= end) & (local_minute >= start) & (local_minute < end)
    overnight = (start > end) & ((local_minute >= start) | (local_minute < end))
    return always | same_day | overnight
