"""Fixtures of the requests tests: an app on a clock moved by hand, and a world of two
grids with their staff."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.requests.world import T0, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def api(api_settings, clock):
    with TestClient(create_app(api_settings, clock=clock)) as test_client:
        yield test_client


@pytest.fixture
def world(family_world, make_actor, db):
    """family_world plus a director and a street officer over grid A; names for the timeline."""
    w = family_world
    w["director_a"] = make_actor("community_director", (w["grid_a"],))
    w["director_b"] = make_actor("community_director", (w["grid_b"],))
    w["street_a"] = make_actor("street_officer", (w["grid_a"],))
    db.execute(
        "UPDATE accounts SET full_name = '张网格' WHERE account_id = %s",
        (w["worker_a"].account_id,),
    )
    return w
