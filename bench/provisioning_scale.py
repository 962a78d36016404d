"""Provisioning many bands one after another: does it slow down or stall connected clients?

    .venv/bin/python bench/provisioning_scale.py [--bands 10000]

Prints the median cost per band of the first and the last 1,000 bands (the baseline is the
same run's first 1,000) and the worst round trip of a client during the whole run, beside
the targets (last <= 1.5 x first; round trip < 50 ms).

Provisioning is what `POST /devices` asks the broker to do (`broker.put_band`): one
account with its permissions through the management API. Before, each one rewrote the
whole password file and signalled the broker, which stalled every client.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from eldercare import topics
from eldercare.broker import hash_password
from eldercare.imei import make_imei

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # reuse the test harness
from tests.support.mqtt import make_client, wait_until  # noqa: E402
from tests.support.services import ThrowawayBroker  # noqa: E402

ROUND_TRIP_LIMIT_S = 0.050


class RoundTrips:
    """A command published by one client and received by another, every 20 ms (QoS 0)."""

    def __init__(self, broker: ThrowawayBroker, band: str) -> None:
        self.samples: list[float] = []
        self._sent: dict[bytes, float] = {}
        self._stop = threading.Event()
        self.receiver = make_client(broker.url("simulator"))
        self.receiver.on_message = self._on_message
        subscribed = threading.Event()
        self.receiver.on_subscribe = lambda *_a: subscribed.set()
        self.receiver.connect("127.0.0.1", broker.port)
        self.receiver.loop_start()
        self.receiver.subscribe(topics.cmd(band), qos=0)
        assert subscribed.wait(10)
        self.sender = make_client(broker.url("api"))
        self.sender.connect("127.0.0.1", broker.port)
        self.sender.loop_start()
        self.topic = topics.cmd(band)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_message(self, _c, _u, msg) -> None:
        sent = self._sent.pop(bytes(msg.payload), None)
        if sent is not None:
            self.samples.append(time.perf_counter() - sent)

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(0.02):
            n += 1
            payload = str(n).encode()
            self._sent[payload] = time.perf_counter()
            self.sender.publish(self.topic, payload, qos=0)

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: len(self.samples) >= 5, timeout_s=10)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for client in (self.sender, self.receiver):
            client.loop_stop()
            client.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bands", type=int, default=10_000)
    args = parser.parse_args()
    state_dir = Path(tempfile.mkdtemp(prefix="provisioning-bench-"))
    state_dir.chmod(0o755)
    broker = ThrowawayBroker(state_dir=state_dir)
    broker.start()
    try:
        run(broker, args.bands)
    finally:
        broker.kill()


def run(broker: ThrowawayBroker, bands: int) -> None:
    admin = broker.admin
    password_hash = hash_password("band-secret")  # hashing is the API's cost, not the broker's
    probe = RoundTrips(broker, make_imei(999_999))
    probe.start()
    durations = []
    try:
        for i in range(bands):
            started = time.perf_counter()
            admin.put_band(make_imei(600_000 + i), password_hash)
            durations.append(time.perf_counter() - started)
    finally:
        probe.stop()
    block = min(1000, max(1, bands // 10))
    first, last = statistics.median(durations[:block]), statistics.median(durations[-block:])
    print(f"bands provisioned : {bands:,} (3 management calls each)")
    print(f"median per band   : first {block:,} {first * 1000:.1f} ms, last {block:,} "
          f"{last * 1000:.1f} ms, ratio {last / first:.2f} (target <= 1.5)")  # fmt: skip
    print(f"client round trip : max {max(probe.samples) * 1000:.1f} ms, median "
          f"{statistics.median(probe.samples) * 1000:.1f} ms "
          f"(target max < {ROUND_TRIP_LIMIT_S * 1000:.0f} ms)")  # fmt: skip
    print(f"last band can log in at once: {admin.user_exists(make_imei(600_000 + bands - 1))}")


if __name__ == "__main__":
    main()
