"""WGS-84 <-> GCJ-02 conversion, vectorised over numpy arrays.

GCJ-02 is the obfuscated datum that Chinese map SDKs and some chipsets use: WGS-84 plus a
position-dependent offset of a few hundred metres inside mainland China, none outside.
The forward formula is the widely published one; the inverse is solved by fixed-point
iteration to well under a centimetre.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 formula uses
_EE = 0.00669342162296594323
Array = npt.NDArray[np.float64]


def in_mainland_china(lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """The rough box where GCJ-02 applies an offset (outside it the datums coincide)."""
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _offset(lat: Array, lon: Array) -> tuple[Array, Array]:
    x, y = lon - 105.0, lat - 35.0
    d_lat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    d_lon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    inside = in_mainland_china(lat, lon)
    return np.where(inside, d_lat, 0.0), np.where(inside, d_lon, 0.0)


def wgs84_to_gcj02(lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[Array, Array]:
    """Convert WGS-84 coordinates (degrees) to GCJ-02."""
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    d_lat, d_lon = _offset(lat, lon)
    return lat + d_lat, lon + d_lon


def gcj02_to_wgs84(lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[Array, Array]:
    """Convert GCJ-02 coordinates (degrees) to WGS-84 by iterating the forward formula."""
    gcj_lat, gcj_lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    wgs_lat, wgs_lon = gcj_lat.copy(), gcj_lon.copy()
    for _ in range(30):
        fwd_lat, fwd_lon = wgs84_to_gcj02(wgs_lat, wgs_lon)
        err_lat, err_lon = fwd_lat - gcj_lat, fwd_lon - gcj_lon
        wgs_lat, wgs_lon = wgs_lat - err_lat, wgs_lon - err_lon
        if np.all(np.abs(err_lat) < 1e-10) and np.all(np.abs(err_lon) < 1e-10):
            break
    return wgs_lat, wgs_lon


Datum = Literal["wgs84", "gcj02"]


def to_datum(lat: float, lon: float, datum: Datum) -> tuple[float, float]:
    """A stored WGS-84 point in the datum a caller asked for."""
    if datum == "wgs84":
        return lat, lon
    out_lat, out_lon = wgs84_to_gcj02(lat, lon)
    return float(out_lat), float(out_lon)


def from_datum(lat: float, lon: float, datum: Datum) -> tuple[float, float]:
    """A point given in `datum`, as WGS-84 for storage."""
    if datum == "wgs84":
        return lat, lon
    out_lat, out_lon = gcj02_to_wgs84(lat, lon)
    return float(out_lat), float(out_lon)
