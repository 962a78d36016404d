"""WGS-84 <-> GCJ-02: published reference points, round trips, and the China boundary."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eldercare.datum import from_datum, gcj02_to_wgs84, to_datum, wgs84_to_gcj02

# Tiananmen, as commonly published: WGS-84 from GPS, GCJ-02 from AMap/Tencent maps.
TIANANMEN_WGS84 = (39.908722, 116.397499)
TIANANMEN_GCJ02 = (39.910125, 116.403743)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dlat = math.radians(b[0] - a[0])
    dlon = math.radians(b[1] - a[1]) * math.cos(math.radians(a[0]))
    return 6_371_000 * math.hypot(dlat, dlon)


def test_forward_matches_a_published_reference_point_within_a_metre():
    assert _metres(wgs84_to_gcj02(*TIANANMEN_WGS84), TIANANMEN_GCJ02) < 1.0


def test_offset_is_hundreds_of_metres_in_china():
    assert 300 < _metres(TIANANMEN_WGS84, TIANANMEN_GCJ02) < 700


@given(lat=st.floats(18.0, 53.0), lon=st.floats(74.0, 134.0))
def test_inverse_undoes_forward_to_within_a_centimetre(lat, lon):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lat, lon))
    assert _metres((lat, lon), back) < 0.01


@pytest.mark.parametrize("point", [(48.8584, 2.2945), (-33.8568, 151.2153), (40.6892, -74.0445)])
def test_outside_china_both_datums_agree(point):
    assert wgs84_to_gcj02(*point) == point and gcj02_to_wgs84(*point) == point


def test_datum_helpers_dispatch_on_name():
    assert to_datum(*TIANANMEN_WGS84, "wgs84") == TIANANMEN_WGS84
    assert to_datum(*TIANANMEN_WGS84, "gcj02") == wgs84_to_gcj02(*TIANANMEN_WGS84)
    assert _metres(from_datum(*TIANANMEN_GCJ02, "gcj02"), TIANANMEN_WGS84) < 1.0
