"""Provisioning many bands one after another: does it slow down or stall connected clients?

    .venv/bin/python bench/provisioning_scale.py [--bands 10000] [--quick]

Provisioning is what `POST /devices` does (`api.devices.service.provision`): one row in
`devices`, which the broker's auth service reads when the band logs in; the broker itself is
not called. Prints the median cost per band of the first and the last 1,000 bands (the first
1,000 go into an empty registry, alternating one by one with the last 1,000, so a change in
the machine's load does not pass for a slowdown), and another client's round trip through
the broker while it runs beside the same client's on the idle broker just before (targets:
last <= 1.5 x first; round trip < 50 ms). Needs ELDERCARE_TEST_DATABASE_URL (a server where
it may create databases) and rabbitmq-server, like the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # reuse the test harness
from api.devices import service  # noqa: E402
from eldercare import topics  # noqa: E402
from eldercare.imei import make_imei  # noqa: E402
from eldercare.migrate import apply_all  # noqa: E402
from tests.ingest.test_broker_security import band_client, connect_result  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.provisioning_scale import (  # noqa: E402
    ROUND_TRIP_LIMIT_MS,
    SLOWDOWN_LIMIT,
    percentile_99,
    provision_in_a_row,
    round_trips_during,
)

TAC = "86333333"
BASELINE_S = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bands", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="2,000 bands")
    args = parser.parse_args()
    bands = 2_000 if args.quick else args.bands
    admin_url = services.postgres_admin_url()
    database_url = services.create_database(admin_url, "provisioning_bench")
    control_url = services.create_database(admin_url, "provisioning_bench")
    for url in (database_url, control_url):
        with psycopg.connect(url) as conn:
            apply_all(conn)
    state_dir = Path(tempfile.mkdtemp(prefix="provisioning-bench-"))
    state_dir.chmod(0o755)
    broker = services.ThrowawayBroker(state_dir=state_dir, database_url=database_url)
    broker.start()
    try:
        run(broker, database_url, control_url, bands)
    finally:
        broker.kill()
        broker.close_auth()
        for url in (database_url, control_url):
            services.drop_database(admin_url, url)


def describe(samples: list[float]) -> str:
    return (
        f"p50 {statistics.median(samples):.1f} ms, p99 {percentile_99(samples):.1f} ms, "
        f"max {max(samples):.1f} ms ({len(samples)} probes)"
    )


def run(broker: services.ThrowawayBroker, database_url: str, control_url: str, bands: int) -> None:
    probe = (broker.url("api"), broker.url("simulator"), topics.cmd(make_imei(999_999, TAC)))
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    _, idle = round_trips_during(lambda: time.sleep(BASELINE_S), *probe)
    device_ids = [make_imei(serial, TAC) for serial in range(bands)]
    result = provision_in_a_row(database_url, device_ids, control_url, probe)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    ratio = result.last_ms / result.first_ms
    print(f"bands provisioned : {bands:,} (one row each; no broker call)")
    print(f"median per band   : first {result.block:,} {result.first_ms:.2f} ms (baseline: an "
          f"empty registry, interleaved with the last), last {result.block:,} "
          f"{result.last_ms:.2f} ms, ratio {ratio:.2f} (target <= {SLOWDOWN_LIMIT})")  # fmt: skip
    print(f"round trip, idle broker (baseline, {BASELINE_S:.0f} s): {describe(idle)}")
    print(f"round trip, during provisioning   : {describe(result.round_trips_ms)} "
          f"(target < {ROUND_TRIP_LIMIT_MS:.0f} ms)")  # fmt: skip
    print(f"a band provisioned now logs in at once: {logs_in_at_once(broker, database_url)}")


def logs_in_at_once(broker: services.ThrowawayBroker, database_url: str) -> bool:
    async def provision_one() -> dict:
        async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            return await service.provision(conn=conn, device_id=make_imei(999_998, TAC))

    band = asyncio.run(provision_one())
    client = band_client(broker, band["mqtt_username"], band["mqtt_password"])
    try:
        return connect_result(client, broker.port) == 0
    finally:
        client.loop_stop()
        client.disconnect()


if __name__ == "__main__":
    main()
