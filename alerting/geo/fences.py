"""Geofences as arrays: signed distance of many fixes to many fences in one pass.

Each fence gets a local tangent plane (metres east/north of its own origin), fine for fences
of a few kilometres. Polygons are flattened into one edge table, so testing N (fix, fence)
pairs is a handful of numpy operations over the pairs' edges, whatever the fences' shapes.
Signed distance is negative inside; a fix is *wholly outside* when its accuracy circle does not
touch the fence (signed distance >= accuracy), *inside* when the point itself is inside (the
boundary is not: shapely's `contains`).

`classify_points` decides most points from a per-fence raster of distance bounds in a few
array operations, then tests the rest exactly: containment with shapely `contains_xy` on the
fence as stored (WGS-84), distance to the nearest edge in local metres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from alerting.geo.datum import to_wgs84
from eldercare.geodesy import EARTH_RADIUS_M

_DEG = np.pi / 180.0

INSIDE, AMBIGUOUS, OUTSIDE = 0, 1, 2
GRID = 24  # raster cells per side of a polygon's bounding box
CHUNK = 1 << 15  # points per pass: temporaries stay in cache


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
    # Raster of each polygon's bbox, GRID x GRID cells. Signed distance changes by at most
    # 1 m per metre moved, so a cell whose centre is further from the edge than its
    # half-diagonal is decided for every point in it. Per cell (float32, rounded down): -1 if
    # wholly inside, else a lower bound of the distance of its points to the fence (0 for
    # cells the edge may cross, and for every cell of a circle: circles are cheap to test).
    cell_bound: np.ndarray = field(default_factory=_empty)  # (n_fences * GRID * GRID,)
    cell_sd: np.ndarray = field(default_factory=_empty)  # signed distance at cell centres
    cell_w: np.ndarray = field(default_factory=_empty)  # per fence: cell width, height (m)
    cell_h: np.ndarray = field(default_factory=_empty)
    cell_min: np.ndarray = field(default_factory=_empty)  # per fence: min(cell_w, cell_h)
    gx_a: np.ndarray = field(default_factory=_empty)  # per fence: grid x = lon * gx_a + gx_b
    gx_b: np.ndarray = field(default_factory=_empty)
    gy_a: np.ndarray = field(default_factory=_empty)
    gy_b: np.ndarray = field(default_factory=_empty)
    # Prepared shapely polygons as stored in WGS-84 (None for circles): exact containment.
    polygons_deg: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

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
    polygons_deg = np.full(n, None, dtype=object)
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
            lat, lon = np.append(lat, lat[0]), np.append(lon, lon[0])
        polygons_deg[i] = shapely.Polygon(np.column_stack([lon, lat]))
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
        polygons_deg=polygons_deg,
    )
    shapely.prepare(polygons_deg)
    _build_raster(fences)
    return fences


def _build_raster(fences: FenceSet) -> None:
    n = len(fences)
    w = np.maximum((fences.bbox[:, 2] - fences.bbox[:, 0]) / GRID, 1e-6)
    h = np.maximum((fences.bbox[:, 3] - fences.bbox[:, 1]) / GRID, 1e-6)
    cell_sd_2d = np.zeros((n, GRID * GRID))
    poly = np.flatnonzero(~fences.is_circle)
    for a in range(0, len(poly), 64):  # cache-sized pieces
        chunk = poly[a : a + 64]
        cell_sd_2d[chunk] = _cell_centre_signed_distance(fences, chunk, w[chunk], h[chunk])
    cell_sd = cell_sd_2d.ravel()
    f = np.repeat(np.arange(n), GRID * GRID)
    # Slack covers rounding in the projection, the grid coordinates and the float32 table.
    half = np.repeat(0.5 * np.hypot(w, h), GRID * GRID) * (1 + 1e-9) + 1e-6
    lower = cell_sd - half
    bound = np.where(cell_sd + half < 0, -1.0, np.where(lower > 0, lower, 0.0))
    bound[fences.is_circle[f]] = 0.0
    bound32 = bound.astype(np.float32)
    high = bound32 > bound
    bound32[high] = np.nextafter(bound32[high], np.float32(0))
    fences.cell_bound = bound32
    fences.cell_sd = cell_sd.astype(np.float32)
    fences.cell_w, fences.cell_h = w, h
    fences.cell_min = np.minimum(w, h)
    # (lat, lon) -> grid coordinates in one multiply-add per axis.
    k_lat = _DEG * EARTH_RADIUS_M
    k_lon = k_lat * np.cos(fences.origin_lat * _DEG)
    fences.gx_a = k_lon / w
    fences.gx_b = (-fences.origin_lon * k_lon - fences.bbox[:, 0]) / w
    fences.gy_a = k_lat / h
    fences.gy_b = (-fences.origin_lat * k_lat - fences.bbox[:, 1]) / h


def _cell_centre_signed_distance(fences: FenceSet, f: np.ndarray, w, h) -> np.ndarray:
    """Signed distance at the cell centres of polygons `f`: (len(f), GRID * GRID)."""
    counts = fences.edge_count[f]
    k = int(counts.max())
    # Pad each polygon's edges to k with zero-length edges at a vertex it has: they never
    # straddle a ray and add no new nearest point.
    slot = np.minimum(np.arange(k)[None, :], counts[:, None] - 1)
    edge = fences.edge_start[f][:, None] + slot
    pad = np.arange(k)[None, :] >= counts[:, None]
    x0, y0 = fences.ex0[edge][:, None, :], fences.ey0[edge][:, None, :]
    x1 = np.where(pad, fences.ex0[edge], fences.ex1[edge])[:, None, :]
    y1 = np.where(pad, fences.ey0[edge], fences.ey1[edge])[:, None, :]
    x0 = np.where(pad[:, None, :], x1, x0)
    y0 = np.where(pad[:, None, :], y1, y0)
    centre = np.arange(GRID) + 0.5
    px = np.tile(fences.bbox[f, 0, None] + centre[None, :] * w[:, None], (1, GRID))[:, :, None]
    py = np.repeat(fences.bbox[f, 1, None] + centre[None, :] * h[:, None], GRID, axis=1)
    py = py[:, :, None]
    straddles = (y0 > py) != (y1 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside = (np.count_nonzero(straddles & (px < x_cross), axis=2) % 2) == 1
        sx, sy = x1 - x0, y1 - y0
        length2 = sx * sx + sy * sy
        t = np.clip(((px - x0) * sx + (py - y0) * sy) / length2, 0.0, 1.0)
    t = np.where(length2 > 0, t, 0.0)
    nearest = np.hypot(px - (x0 + t * sx), py - (y0 + t * sy)).min(axis=2)
    return np.where(inside, -nearest, nearest)


def classify_points(
    fences: FenceSet, fence_idx: np.ndarray, lat: np.ndarray, lon: np.ndarray, acc_m
) -> np.ndarray:
    """State of each (point, fence) pair: INSIDE, AMBIGUOUS, or OUTSIDE (accuracy circle
    wholly outside). The raster decides most points; the rest get exact tests."""
    f = np.asarray(fence_idx, dtype=np.int64)
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    acc = np.asarray(acc_m, dtype=float)
    state = np.empty(len(f), dtype=np.int8)
    for a in range(0, len(f), CHUNK):
        part = slice(a, a + CHUNK)
        state[part] = _classify_chunk(
            fences, f[part], lat[part], lon[part], acc[part] if acc.ndim else acc
        )
    return state


def _classify_chunk(fences: FenceSet, f, lat, lon, acc) -> np.ndarray:
    """classify_points on one chunk: raster bounds for all, exact tests for the undecided."""
    n = len(f)
    gx = lon * fences.gx_a.take(f)
    gx += fences.gx_b.take(f)
    gy = lat * fences.gy_a.take(f)
    gy += fences.gy_b.take(f)
    # A point beyond the bounding box takes the bound of the border cell nearest to it (moving
    # away from a box brings no point closer to anything inside it), or its distance to the
    # box if larger. Slack of 1e-5 cell covers rounding in the grid coordinates.
    cx = np.clip(gx, 0, GRID - 1e-6)
    cy = np.clip(gy, 0, GRID - 1e-6)
    cell = cy.astype(np.int32)
    cell *= GRID
    cell += cx.astype(np.int32)
    cell = cell + f * (GRID * GRID)
    bound = fences.cell_bound.take(cell).astype(float)
    gx -= cx
    gy -= cy
    beyond = np.maximum(np.abs(gx, out=gx), np.abs(gy, out=gy), out=gx)
    beyond -= 1e-5
    beyond *= fences.cell_min.take(f)
    np.maximum(bound, beyond, out=bound)
    state = (bound >= 0).view(np.int8) * np.int8(OUTSIDE)  # INSIDE is 0
    # Undecided: boundary cells (bound 0) and cells nearer than the accuracy radius.
    unsure = bound < acc if acc.ndim else bound < float(acc)
    unsure |= bound == 0
    unsure &= bound >= 0
    rows = np.flatnonzero(unsure)
    if len(rows):
        state[rows] = _classify_exactly(
            fences, f[rows], lat[rows], lon[rows], np.broadcast_to(acc, n)[rows], bound[rows]
        )
    return state


def _classify_exactly(fences: FenceSet, f, lat, lon, acc, bound) -> np.ndarray:
    """Exact state of the points the raster left open (`bound`: their cells' distance bound)."""
    x, y = _project(lat, lon, fences.origin_lat[f], fences.origin_lon[f])
    state = np.full(len(f), AMBIGUOUS, dtype=np.int8)
    circle = fences.is_circle[f]
    if circle.any():
        sd = np.hypot(x[circle], y[circle]) - fences.radius_m[f[circle]]
        state[circle] = classify(sd, acc[circle])
    lower, upper = _distance_bounds(fences, f, x, y)
    lower = np.maximum(lower, bound)
    poly = ~circle
    state[poly & (upper < 0)] = INSIDE
    state[poly & (lower > 0) & (lower >= acc)] = OUTSIDE
    decided = (upper < 0) | ((lower > 0) & ((lower >= acc) | (upper < acc)))
    open_ = np.flatnonzero(poly & ~decided)
    if len(open_) == 0:
        return state
    fo = f[open_]
    # Containment is shapely's own answer, on the fence as drawn (degrees).
    inside = shapely.contains_xy(fences.polygons_deg[fo], lon[open_], lat[open_])
    state[open_[inside]] = INSIDE
    rest = open_[~inside]
    far = acc[rest] <= 0  # nothing is nearer than 0 m: wholly outside
    state[rest[far]] = OUTSIDE
    rest = rest[~far]
    if len(rest):
        gap = _nearest_edge_m(fences, f[rest], x[rest], y[rest])
        state[rest[gap >= acc[rest]]] = OUTSIDE
    return state


def _distance_bounds(fences: FenceSet, f, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (m) on each point's signed distance to its polygon, from the nearest cell centre.

    Signed distance moves by at most 1 m per metre. A point beyond the bounding box is
    compared through its nearest point q on the box: every point z of the fence lies in the
    box, so |p - z|^2 >= |q - z|^2 + |p - q|^2.
    """
    b = fences.bbox[f]
    qx, qy = np.clip(x, b[:, 0], b[:, 2]), np.clip(y, b[:, 1], b[:, 3])
    beyond = np.hypot(x - qx, y - qy)
    w, h = fences.cell_w[f], fences.cell_h[f]
    ix = np.clip(((qx - b[:, 0]) / w).astype(np.int64), 0, GRID - 1)
    iy = np.clip(((qy - b[:, 1]) / h).astype(np.int64), 0, GRID - 1)
    r = np.hypot(qx - (b[:, 0] + (ix + 0.5) * w), qy - (b[:, 1] + (iy + 0.5) * h))
    sd = fences.cell_sd[(f * GRID + iy) * GRID + ix].astype(float)
    slack = 1e-3 + 1e-6 * np.abs(sd)  # float32 table, projection rounding
    lower_q = sd - r - slack
    lower = np.where(beyond > 0, np.hypot(np.maximum(lower_q, 0.0), beyond), lower_q)
    upper = np.where(beyond > 0, np.inf, sd + r + slack)
    return lower, upper


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
    pair, edge, _ = _pair_edges(fences, f)
    px, py = x[pair], y[pair]
    x0, y0, x1, y1 = fences.ex0[edge], fences.ey0[edge], fences.ex1[edge], fences.ey1[edge]
    # Even-odd crossing count of a ray towards +x.
    straddles = (y0 > py) != (y1 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
    crossings = np.bincount(pair, weights=straddles & (px < x_cross), minlength=len(f))
    nearest = _nearest_edge_m(fences, f, x, y)
    inside = (crossings % 2) == 1
    result[near] = np.where(inside, -nearest, nearest)
    return result


def _pair_edges(fences: FenceSet, f: np.ndarray):
    """(point, edge) pairs of points paired with polygons `f`, grouped by point; group starts."""
    counts = fences.edge_count[f]
    pair = np.repeat(np.arange(len(f)), counts)
    first = np.cumsum(counts) - counts
    edge = np.repeat(fences.edge_start[f] - first, counts) + np.arange(int(counts.sum()))
    return pair, edge, first


def _nearest_edge_m(fences: FenceSet, f: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Distance (m) of each point to the nearest edge of the polygon it is paired with."""
    out = np.empty(len(f))
    for part in np.array_split(np.arange(len(f)), max(1, -(-len(f) // 4096))):  # fits in cache
        out[part] = _nearest_edge_part(fences, f[part], x[part], y[part])
    return out


def _nearest_edge_part(fences: FenceSet, f: np.ndarray, x: np.ndarray, y: np.ndarray):
    pair, edge, first = _pair_edges(fences, f)
    px, py = x[pair], y[pair]
    x0, y0 = fences.ex0[edge], fences.ey0[edge]
    sx, sy = fences.ex1[edge] - x0, fences.ey1[edge] - y0
    px -= x0
    py -= y0
    length2 = sx * sx + sy * sy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip((px * sx + py * sy) / length2, 0.0, 1.0)
    t[length2 == 0] = 0.0
    px -= t * sx
    py -= t * sy
    px *= px
    py *= py
    px += py
    return np.sqrt(np.minimum.reduceat(px, first)) if len(px) else np.zeros(0)


def classify(signed_m: np.ndarray, acc_m: np.ndarray) -> np.ndarray:
    """INSIDE (point inside), OUTSIDE (accuracy circle wholly outside) or AMBIGUOUS."""
    state = np.full(len(signed_m), AMBIGUOUS, dtype=np.int8)
    state[signed_m >= np.asarray(acc_m, dtype=float)] = OUTSIDE
    state[signed_m < 0] = INSIDE  # the boundary itself is not inside, as in shapely
    return state


def active_at(fences: FenceSet, fence_idx: np.ndarray, local_minute: np.ndarray) -> np.ndarray:
    """Whether each paired fence is in force at the fix's local minute of day."""
    start = fences.active_from_min[fence_idx]
    end = fences.active_until_min[fence_idx]
    always = start < 0
    same_day = (start <= end) & (local_minute >= start) & (local_minute < end)
    overnight = (start > end) & ((local_minute >= start) | (local_minute < end))
    return always | same_day | overnight
