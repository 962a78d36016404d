"""WGS-84 <-> GCJ-02 ("Mars coordinates") conversion for Chinese map SDKs.

The forward transform is the widely published approximation of the GCJ-02 offset (Krasovsky
ellipsoid constants); outside mainland China GCJ-02 equals WGS-84. The inverse has no closed
form: it is solved by fixed-point iteration to well under a centimetre.
"""

from __future__ import annotations

import math
from typing import Literal

Datum = Literal["wgs84", "gcj02"]

_A = 6378245.0  # Krasovsky 1940 semi-major axis, metres
_EE = 0.00669342162296594323  # its first eccentricity squared


def in_mainland_china(lat: float, lon: float) -> bool:
    """The rough bounding box inside which GCJ-02 is applied (same box as the usual code)."""
    return 72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271


def _offset_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """Shift a WGS-84 point to GCJ-02; unchanged outside mainland China."""
    if not in_mainland_china(lat, lon):
        return lat, lon
    dlat = _offset_lat(lon - 105.0, lat - 35.0)
    dlon = _offset_lon(lon - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(lat: float, lon: float, *, tolerance_deg: float = 1e-9) -> tuple[float, float]:
    """Invert wgs84_to_gcj02 by fixed-point iteration (converges in a handful of steps)."""
    if not in_mainland_china(lat, lon):
        return lat, lon
    w_lat, w_lon = lat, lon
    for _ in range(30):
        g_lat, g_lon = wgs84_to_gcj02(w_lat, w_lon)
        err_lat, err_lon = g_lat - lat, g_lon - lon
        w_lat, w_lon = w_lat - err_lat, w_lon - err_lon
        if abs(err_lat) < tolerance_deg and abs(err_lon) < tolerance_deg:
            break
    return w_lat, w_lon


def to_datum(lat: float, lon: float, datum: Datum) -> tuple[float, float]:
    """A stored WGS-84 point in the datum a caller asked for."""
    return wgs84_to_gcj02(lat, lon) if datum == "gcj02" else (lat, lon)


def from_datum(lat: float, lon: float, datum: Datum) -> tuple[float, float]:
    """A point given in `datum`, as WGS-84 for storage."""
    return gcj02_to_wgs84(lat, lon) if datum == "gcj02" else (lat, lon)
