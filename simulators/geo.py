"""Small-distance geodesy around a community: metre offsets.

Distances are `eldercare.geodesy.distance_m`, GCJ-02 is `eldercare.datum` (one copy of each).
"""

from __future__ import annotations

import math

from eldercare.geodesy import EARTH_RADIUS_M


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point `north_m` north and `east_m` east of (lat, lon) (flat-earth, fine below 50 km)."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon
