"""Issue 8: provisioning costs one row, whatever the number of bands already provisioned."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import psycopg
import pytest

from eldercare import topics
from eldercare.imei import make_imei
from eldercare.migrate import apply_all
from tests.support import services
from tests.support.provisioning_scale import (
    ROUND_TRIP_LIMIT_MS,
    SLOWDOWN_LIMIT,
    percentile_99,
    provision_in_a_row,
    round_trips_during,
)

pytestmark = pytest.mark.slow
BANDS = 10_000
TAC = "86222222"
IDLE_BASELINE_S = 5.0
STALL_MS = 5.0  # the idle broker's median round trip is under 1 ms


@pytest.fixture
def empty_registries(postgres_admin_url: str) -> Iterator[tuple[str, str]]:
    """Two databases of their own: 10,000 bands would crowd the session's registry; the
    second is the empty registry the last bands are compared with."""
    urls = (
        services.create_database(postgres_admin_url),
        services.create_database(postgres_admin_url),
    )
    for url in urls:
        with psycopg.connect(url) as conn:
            apply_all(conn)
    yield urls
    for url in urls:
        services.drop_database(postgres_admin_url, url)


@pytest.mark.timeout(240)
def test_provisioning_10000_bands_in_a_row_does_not_slow_down_nor_stall_other_clients(
    empty_registries, broker
):
    """The last 1,000 cost what the first 1,000 did; another client's round trip < 50 ms.

    The last 1,000 alternate with 1,000 bands into an empty registry (the first 1,000), so
    the machine's changing load does not pass for a slowdown.

    Provisioning no longer reaches the broker. A stall per provisioning, as the old
    password-file SIGHUP caused (0.7 -> 440 ms), would lift the median round trip, since
    bands are provisioned five times faster than the probe runs. The 99th percentile is held
    under 50 ms, or under twice the idle broker's own in this run when the shared machine
    alone makes it slower than that (bench/provisioning_scale.py prints both).
    """
    probe = (broker.url("api"), broker.url("simulator"), topics.cmd(make_imei(999_999, TAC)))
    _, idle = round_trips_during(lambda: time.sleep(IDLE_BASELINE_S), *probe)
    device_ids = [make_imei(serial, TAC) for serial in range(BANDS)]
    registry, control = empty_registries
    run = provision_in_a_row(registry, device_ids, control, probe)
    print(
        f"median per band: first {run.first_ms:.2f} ms, last {run.last_ms:.2f} ms; round trip "
        f"p50 {statistics.median(run.round_trips_ms):.1f} ms, p99 {run.p99_round_trip_ms:.1f} "
        f"ms, max {run.worst_round_trip_ms:.1f} ms; idle p99 {percentile_99(idle):.1f} ms"
    )
    assert len(run.durations_s) == BANDS
    assert run.last_ms <= SLOWDOWN_LIMIT * run.first_ms
    assert len(run.round_trips_ms) > 100  # the probe ran through the whole provisioning
    assert statistics.median(run.round_trips_ms) < STALL_MS
    limit = max(ROUND_TRIP_LIMIT_MS, 2 * percentile_99(idle))
    assert run.p99_round_trip_ms < limit
    with psycopg.connect(registry) as conn:
        provisioned = conn.execute(
            "SELECT count(*) FROM devices WHERE mqtt_password_hash IS NOT NULL"
        ).fetchone()
    assert provisioned == (BANDS,)
