"""WGS-84 <-> GCJ-02 for alerting and the API: one implementation, in eldercare.datum.

Ingest converts on the way in with the same functions, so stored positions, fences and the
GCJ-02 coordinates sent to the 120 gateway agree to the centimetre.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from eldercare.datum import gcj02_to_wgs84, in_mainland_china, wgs84_to_gcj02

__all__ = ["gcj02_to_wgs84", "in_mainland_china", "to_wgs84", "wgs84_to_gcj02"]


def to_wgs84(lat: ArrayLike, lon: ArrayLike, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates given in `crs` ('wgs84' or 'gcj02') as WGS-84."""
    if crs == "gcj02":
        return gcj02_to_wgs84(lat, lon)
    if crs == "wgs84":
        return np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    raise ValueError(f"unknown coordinate reference system {crs!r}")
