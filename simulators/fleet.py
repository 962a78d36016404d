"""Thousands of simulated bands over a few MQTT connections of the `simulator` account."""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from eldercare.imei import make_imei
from eldercare.settings import MqttTarget
from simulators.band import Band
from simulators.connection import connect_and_wait, make_client
from simulators.messages import SimMessage, batch_body, epoch_ms, topic_for

log = logging.getLogger(__name__)
Transform = Callable[[list[SimMessage]], list[SimMessage]]


def fleet_device_ids(n_bands: int, first_serial: int = 1) -> list[str]:
    """The IMEIs of a simulated fleet (the same for the same arguments)."""
    return [make_imei(first_serial + i) for i in range(n_bands)]


@dataclass(frozen=True)
class BurstResult:
    """What a load burst published and how long until every PUBACK arrived."""

    messages: int
    samples: int
    seconds: float


class RateLimiter:
    """At most `per_s` events a second on average (token bucket, one second of burst)."""

    def __init__(self, per_s: float) -> None:
        self.per_s = per_s
        self._tokens = per_s
        self._last = time.monotonic()

    def wait(self, stop: threading.Event | None = None) -> None:
        """Block until one more event is allowed."""
        while True:
            now = time.monotonic()
            self._tokens = min(self.per_s, self._tokens + (now - self._last) * self.per_s)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            pause_s = (1 - self._tokens) / self.per_s
            if stop is not None and stop.wait(pause_s):
                return
            if stop is None:
                time.sleep(pause_s)


class Fleet:
    """Publishes many bands' messages, each under its band's own topic, at QoS 1."""

    def __init__(
        self,
        target: MqttTarget,
        *,
        connections: int = 4,
        max_rate_per_s: float = 2000.0,
        client_id_prefix: str | None = None,
    ) -> None:
        self.target = target
        self._rate = RateLimiter(max_rate_per_s)
        # Distinct per process: two fleets with one client id would keep kicking each other off.
        client_id_prefix = client_id_prefix or f"eldercare-sim-{os.getpid()}"
        self._clients = [
            make_client(f"{client_id_prefix}-{i}", target.username or "", target.password)
            for i in range(connections)
        ]
        self._next_client = itertools.cycle(self._clients)
        self._lock = threading.Lock()
        self.published = 0
        self.acked = 0
        for client in self._clients:
            client.on_publish = self._on_publish
            client.max_inflight_messages_set(1000)

    def start(self, timeout_s: float = 10.0) -> Fleet:
        """Open every connection (raises ConnectionFailed if the broker refuses)."""
        for client in self._clients:
            connect_and_wait(client, self.target.host, self.target.port, timeout_s=timeout_s)
        return self

    def stop(self) -> None:
        """Disconnect cleanly."""
        for client in self._clients:
            client.disconnect()
            client.loop_stop()

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _on_publish(self, _client, _userdata, _mid, _reason_code, _properties) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, messages: Iterable[SimMessage], stop: threading.Event | None = None) -> int:
        """Publish messages in order under the rate cap; return how many were sent."""
        sent = 0
        for message in messages:
            self._rate.wait(stop)
            if stop is not None and stop.is_set():
                break
            retain = message.kind == "status"
            next(self._next_client).publish(message.topic, message.payload, qos=1, retain=retain)
            sent += 1
        with self._lock:
            self.published += sent
        return sent

    def wait_until_acked(self, timeout_s: float) -> bool:
        """Block until the broker acknowledged everything published so far."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.acked >= self.published:
                    return True
            time.sleep(0.01)
        return False

    def run(
        self,
        bands: list[Band],
        *,
        sim_start: datetime,
        speed: float,
        stop: threading.Event,
        real_duration_s: float | None = None,
        transform: Transform | None = None,
        tick_s: float = 0.5,
        live_from: datetime | None = None,
        replay_speed: float = 600.0,
    ) -> int:
        """Drive the bands on a clock running `speed` times real time; return messages sent.

        With `live_from` (after `sim_start`), the clock first replays from `sim_start` at
        `replay_speed` until it reaches `live_from` running at `speed`, then follows that.
        """
        began, sent = time.monotonic(), 0
        waiting: list[tuple[datetime, int, SimMessage]] = []  # held back until their `at`
        order = itertools.count()
        while True:
            elapsed_s = time.monotonic() - began
            finished = stop.is_set()
            if real_duration_s is not None and elapsed_s >= real_duration_s:
                elapsed_s, finished = real_duration_s, True  # cover the whole duration
            sim_now = sim_start + timedelta(seconds=elapsed_s * speed)
            if live_from is not None:
                live = live_from + timedelta(seconds=elapsed_s * speed)
                sim_now = min(live, sim_start + timedelta(seconds=elapsed_s * replay_speed))
            fresh = [m for band in bands for m in band.advance(sim_now)]
            for message in transform(fresh) if transform else fresh:
                heapq.heappush(waiting, (message.at, next(order), message))
            due = []
            while waiting and waiting[0][0] <= sim_now:
                due.append(heapq.heappop(waiting)[2])
            sent += self.publish(due, stop)
            if finished:
                break
            stop.wait(tick_s)
        log.info("fleet of %s bands stopped after %s messages", len(bands), sent)
        return sent

    def publish_burst(
        self,
        n_messages: int,
        samples_per_message: int,
        *,
        device_ids: list[str] | None = None,
        timeout_s: float = 300.0,
    ) -> BurstResult:
        """Publish `n_messages` valid telemetry messages as fast as allowed; wait for PUBACKs.

        Every sample has a distinct (device, t), one second apart going back from now, so
        nothing is a duplicate; keep n_messages * samples_per_message / len(device_ids)
        under 7 days of seconds.
        """
        ids = device_ids or fleet_device_ids(1000)
        now_ms = epoch_ms(datetime.now(UTC))
        counters = dict.fromkeys(ids, 0)
        began = time.monotonic()
        for k in range(n_messages):
            device_id = ids[k % len(ids)]
            first = counters[device_id]
            counters[device_id] += samples_per_message
            samples = [
                {"t": now_ms - (first + j) * 1000, "hr": 60 + (first + j) % 40, "worn": True}
                for j in range(samples_per_message)
            ]
            payload = orjson.dumps(batch_body("telemetry", now_ms, samples))
            self._rate.wait()
            next(self._next_client).publish(topic_for(device_id, "telemetry"), payload, qos=1)
            with self._lock:
                self.published += 1
        if not self.wait_until_acked(timeout_s):
            log.warning("burst: not every PUBACK arrived within %s s", timeout_s)
        seconds = time.monotonic() - began
        return BurstResult(n_messages, n_messages * samples_per_message, seconds)
