"""WGS-84 <-> GCJ-02 conversion, on scalars or numpy arrays.

GCJ-02 is the obfuscated datum mandated for maps in mainland China; it is WGS-84 plus a
smooth offset of up to several hundred metres. Outside mainland China the two coincide.
WGS-84 -> GCJ-02 is the published forward formula; GCJ-02 -> WGS-84 inverts it by fixed-point
iteration (converges to well under a centimetre in a few steps).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as used by the GCJ-02 formula
_EE = 0.00669342162296594323  # its first eccentricity squared


def in_mainland_china(lat: ArrayLike, lon: ArrayLike) -> np.ndarray:
    """True where the offset applies (the usual bounding box of mainland China)."""
    lat_a, lon_a = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    return (lon_a >= 72.004) & (lon_a <= 137.8347) & (lat_a >= 0.8293) & (lat_a <= 55.8271)


def _offset(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    d_lat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    d_lon += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lat, d_lon


def wgs84_to_gcj02(lat: ArrayLike, lon: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS-84 (lat, lon) to GCJ-02; points outside China are returned unchanged."""
    lat_a, lon_a = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    d_lat, d_lon = _offset(lat_a, lon_a)
    inside = in_mainland_china(lat_a, lon_a)
    return np.where(inside, lat_a + d_lat, lat_a), np.where(inside, lon_a + d_lon, lon_a)


def gcj02_to_wgs84(
    lat: ArrayLike, lon: ArrayLike, *, iterations: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 (lat, lon) to WGS-84 by inverting the forward formula iteratively."""
    g_lat, g_lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    w_lat, w_lon = g_lat.copy(), g_lon.copy()
    for _ in range(iterations):
        f_lat, f_lon = wgs84_to_gcj02(w_lat, w_lon)
        w_lat = w_lat + (g_lat - f_lat)
        w_lon = w_lon + (g_lon - f_lon)
    return w_lat, w_lon


def to_wgs84(lat: ArrayLike, lon: ArrayLike, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates given in `crs` ('wgs84' or 'gcj02') as WGS-84."""
    if crs == "gcj02":
        return gcj02_to_wgs84(lat, lon)
    if crs == "wgs84":
        return np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    raise ValueError(f"unknown coordinate reference system {crs!r}")
