"""Position fixes scatter around the true position as their stated accuracy says."""

from __future__ import annotations

import numpy as np
import pytest

from eldercare.datum import wgs84_to_gcj02
from eldercare.geodesy import distance_m
from simulators.movement import Place, make_fix
from simulators.randomness import Draws

HOME = (41.108, 122.994)


@pytest.mark.parametrize("outdoors", [True, False])
def test_jitter_matches_the_68_percent_accuracy_radius(outdoors: bool) -> None:
    rng = Draws(np.random.default_rng(1))
    place = Place(*HOME, outdoors=outdoors, moving=False)
    fixes = [make_fix(place, 0, rng) for _ in range(3000)]
    ratio = np.array([distance_m(*HOME, f["lat"], f["lon"]) / f["acc"] for f in fixes])
    assert 0.64 <= float(np.mean(ratio <= 1.0)) <= 0.72  # acc is the 68% radius
    assert 0.6 <= float(np.median(ratio)) <= 1.0
    sources = {f["src"] for f in fixes}
    assert sources == ({"gnss"} if outdoors else {"gnss", "wifi", "cell"})


def test_gcj02_fixes_are_offset_like_a_chinese_chipset() -> None:
    rng = Draws(np.random.default_rng(1))
    fix = make_fix(Place(*HOME, outdoors=True, moving=False), 0, rng, crs="gcj02")
    assert fix["crs"] == "gcj02"
    shifted = wgs84_to_gcj02(*HOME)
    assert 300 < distance_m(*HOME, *shifted) < 800
    assert distance_m(*shifted, fix["lat"], fix["lon"]) < 100


def test_gcj02_fixes_outside_mainland_china_are_not_offset() -> None:
    rng = Draws(np.random.default_rng(1))
    tokyo = (35.6762, 139.6503)  # GCJ-02 leaves points outside the mainland where they are
    fix = make_fix(Place(*tokyo, outdoors=True, moving=False), 0, rng, crs="gcj02")
    assert distance_m(*tokyo, fix["lat"], fix["lon"]) < 100
