"""Provisioning many bands in a row while another client's round trip is watched.

Shared by `bench/provisioning_scale.py` and the test that holds its promise. The watching
client runs in a process of its own (`python -m tests.support.provisioning_scale URL URL
TOPIC`), so the provisioning loop's Python work does not delay its callbacks: what it sees
is the broker's answer time. It publishes a QoS 0 message every 20 ms from one service
account to another and prints the round trips (ms, one per line) when its stdin closes.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg.rows import dict_row

from api.devices import service
from eldercare.imei import make_imei
from tests.support.mqtt import make_client
from tests.support.processes import REPO_ROOT

T = TypeVar("T")
PROBE_PERIOD_S = 0.02
ROUND_TRIP_LIMIT_MS = 50.0
SLOWDOWN_LIMIT = 1.5  # last block's median per band over the first block's
CONTROL_TAC = "86444444"


@dataclass(frozen=True)
class ProvisioningRun:
    """Per-band durations (s) in order, into the registry and into the empty control one,
    and the watching client's round trips (ms)."""

    durations_s: list[float]
    control_durations_s: list[float]
    round_trips_ms: list[float]

    @property
    def block(self) -> int:
        return len(self.control_durations_s)

    @property
    def first_ms(self) -> float:
        """Median cost of the first bands of an empty registry (the control's)."""
        return statistics.median(self.control_durations_s) * 1000

    @property
    def last_ms(self) -> float:
        """Median cost of the registry's last bands, measured interleaved with the first."""
        return statistics.median(self.durations_s[-self.block :]) * 1000

    @property
    def worst_round_trip_ms(self) -> float:
        return max(self.round_trips_ms)

    @property
    def p99_round_trip_ms(self) -> float:
        return percentile_99(self.round_trips_ms)


def percentile_99(samples: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def _timed_provision(conn: psycopg.AsyncConnection, device_id: str) -> float:
    started = time.perf_counter()
    await service.provision(conn=conn, device_id=device_id)  # type: ignore[arg-type]
    return time.perf_counter() - started


async def _provision_all(
    registry_url: str, device_ids: list[str], control_url: str, control_ids: list[str]
) -> tuple[list[float], list[float]]:
    """Provision `device_ids` in a row; its last ones alternate with `control_ids` into an
    empty registry, so the first and the last bands are timed under the same machine load."""
    durations: list[float] = []
    control: list[float] = []
    head = len(device_ids) - len(control_ids)
    async with (
        await psycopg.AsyncConnection.connect(
            registry_url, autocommit=True, row_factory=dict_row
        ) as conn,
        await psycopg.AsyncConnection.connect(
            control_url, autocommit=True, row_factory=dict_row
        ) as control_conn,
    ):
        for device_id in device_ids[:head]:
            durations.append(await _timed_provision(conn, device_id))
        for device_id, control_id in zip(device_ids[head:], control_ids, strict=True):
            control.append(await _timed_provision(control_conn, control_id))
            durations.append(await _timed_provision(conn, device_id))
    return durations, control


def round_trips_during(
    work: Callable[[], T], sender_url: str, receiver_url: str, topic: str
) -> tuple[T, list[float]]:
    """Run `work` while the probe process watches; its result and the round trips (ms)."""
    probe = subprocess.Popen(
        [sys.executable, "-m", "tests.support.provisioning_scale", sender_url, receiver_url, topic],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert probe.stdout is not None and probe.stdin is not None
        if probe.stdout.readline().strip() != "ready":
            raise RuntimeError("the round-trip probe did not start")
        result = work()
        out, _ = probe.communicate("", timeout=30)
    finally:
        if probe.poll() is None:
            probe.kill()
    return result, [float(line) for line in out.split()]


def provision_in_a_row(
    registry_url: str,
    device_ids: list[str],
    control_url: str,
    probe: tuple[str, str, str],
) -> ProvisioningRun:
    """Provision each band as `POST /devices` does, one after another, under the probe.

    The last tenth (at most 1,000) alternate with as many bands into the empty registry at
    `control_url`: first and last are compared under the same machine load.
    """
    block = min(1000, max(1, len(device_ids) // 10))
    control_ids = [make_imei(serial, CONTROL_TAC) for serial in range(block)]
    (durations, control), round_trips = round_trips_during(
        lambda: asyncio.run(_provision_all(registry_url, device_ids, control_url, control_ids)),
        *probe,
    )
    return ProvisioningRun(durations, control, round_trips)


def _probe(sender_url: str, receiver_url: str, topic: str) -> None:
    sent: dict[bytes, float] = {}
    samples: list[float] = []

    def on_message(_c: object, _u: object, msg) -> None:  # noqa: ANN001 - paho's message
        started = sent.pop(bytes(msg.payload), None)
        if started is not None:
            samples.append((time.perf_counter() - started) * 1000)

    receiver, sender = make_client(receiver_url), make_client(sender_url)
    receiver.on_message = on_message
    subscribed = threading.Event()
    receiver.on_subscribe = lambda *_a: subscribed.set()
    for client, url in ((receiver, receiver_url), (sender, sender_url)):
        host, port = url.rsplit("@", 1)[1].split(":")
        client.connect(host, int(port))
        client.loop_start()
    receiver.subscribe(topic, qos=0)
    if not subscribed.wait(10):
        raise RuntimeError("probe subscription refused")
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("ready", flush=True)
    n = 0
    while not stop.wait(PROBE_PERIOD_S):
        n += 1
        payload = str(n).encode()
        sent[payload] = time.perf_counter()
        sender.publish(topic, payload, qos=0)
    time.sleep(0.2)  # the last answers
    now = time.perf_counter()
    # A probe that never came back counts as the round trip it has waited so far.
    samples += [(now - started) * 1000 for started in sent.values() if now - started > 0.1]
    for client in (sender, receiver):
        client.loop_stop()
        client.disconnect()
    print("\n".join(f"{sample:.3f}" for sample in samples), flush=True)


if __name__ == "__main__":
    _probe(*sys.argv[1:4])
