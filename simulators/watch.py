"""Simulated 4G watches: the fleet's messages spoken as the watch text protocol over TCP.

Each band's contract messages are rewritten as the frames a watch of the common "3G
watch" protocol would send (heartbeats, vitals, position reports, alarms) and sent to the
watch gateway on one TCP connection per band, so the demo runs the gateway path end to end.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from gateway.framing import encode
from simulators.fleet import Fleet, RateLimiter
from simulators.messages import SimMessage, from_epoch_ms

log = logging.getLogger(__name__)

ALARM_BITS = {
    "sos": "00010000",
    "fall": "00200000",
    "wear_off": "00100000",
    "low_battery": "00020000",
    "power_off": "00400000",
}


def watch_id_of(imei: str) -> str:
    """The id a simulated watch speaks with: the IMEI's last 10 digits, as many do."""
    return imei[-10:]


@dataclass
class WatchState:
    """What a watch repeats in every report: its battery, steps and last position."""

    battery: int = 80
    steps: int = 0
    lat: float | None = None
    lon: float | None = None


def contents_for(message: SimMessage, state: WatchState) -> list[bytes]:
    """The frame contents a watch sends for one contract message (updating `state`)."""
    body = orjson.loads(message.payload)
    if message.kind == "status":
        state.battery = int(body.get("battery", state.battery))
        return [b"LK,%d,0,%d" % (state.steps, state.battery)] if body.get("online") else []
    if message.kind == "telemetry":
        return [c for sample in body["samples"] for c in _sample(sample, state)]
    if message.kind == "location":
        out = []
        for fix in body["fixes"]:
            state.lat, state.lon = fix["lat"], fix["lon"]
            out.append(_report("UD", fix["t"], "00000000", state))
        return out
    if message.kind == "event" and body.get("type") in ALARM_BITS:
        if "lat" in body:
            state.lat, state.lon = body["lat"], body["lon"]
        return [_report("AL", body["t"], ALARM_BITS[body["type"]], state)]
    return []


def _sample(sample: dict, state: WatchState) -> list[bytes]:
    out = []
    if "steps" in sample:
        state.steps = int(sample["steps"])
        out.append(b"LK,%d,0,%d" % (state.steps, state.battery))
    if "sbp" in sample:
        hr = sample.get("hr", "")
        out.append(f"bphrt,{sample['sbp']},{sample['dbp']},{hr}".encode())
    elif "hr" in sample:
        out.append(b"heart,%d" % sample["hr"])
    if "temp_c" in sample:
        out.append(f"btemp2,1,{sample['temp_c']:.1f}".encode())
    return out


def _report(command: str, t_ms: int, status: str, state: WatchState) -> bytes:
    when = from_epoch_ms(t_ms).strftime("%d%m%y,%H%M%S")  # a watch on UTC
    if state.lat is None or state.lon is None:
        place = "V,0.000000,N,0.000000,E"
    else:
        lat, lon = state.lat, state.lon
        ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
        place = f"A,{abs(lat):.6f},{ns},{abs(lon):.6f},{ew}"
    tail = f"0.00,0.0,0.0,8,80,{state.battery},{state.steps},0,{status},0,0"
    return f"{command},{when},{place},{tail}".encode()


@dataclass
class Watch:
    imei: str
    sock: socket.socket | None = None
    state: WatchState = field(default_factory=WatchState)


class WatchFleet(Fleet):
    """A Fleet that speaks the watch protocol to the gateway instead of MQTT to the broker."""

    def __init__(self, host: str, port: int, *, max_rate_per_s: float = 2000.0) -> None:
        self.host, self.port = host, port
        self._rate = RateLimiter(max_rate_per_s)
        self._watches: dict[str, Watch] = {}
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._reader = threading.Thread(target=self._read_replies, daemon=True)
        self.published = self.acked = 0
        self.replies = 0

    def start(self, timeout_s: float = 30.0) -> WatchFleet:
        """Wait until the gateway listens (it may be starting beside us), then run."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self._reader.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for watch in self._watches.values():
            if watch.sock is not None:
                watch.sock.close()

    def publish(self, messages: Iterable[SimMessage], stop: threading.Event | None = None) -> int:
        sent = 0
        for message in messages:
            watch = self._watches.setdefault(message.device_id, Watch(message.device_id))
            for content in contents_for(message, watch.state):
                self._rate.wait(stop)
                if stop is not None and stop.is_set():
                    return sent
                self._send(watch, encode("3G", watch_id_of(watch.imei), content))
                sent += 1
        with self._lock:
            self.published += sent
            self.acked = self.published
        return sent

    def _send(self, watch: Watch, frame: bytes) -> None:
        for _ in range(2):  # once more on a fresh connection if the gateway closed the old
            try:
                if watch.sock is None:
                    watch.sock = socket.create_connection((self.host, self.port), timeout=10)
                    with self._lock:
                        self._selector.register(watch.sock, selectors.EVENT_READ)
                watch.sock.sendall(frame)
                return
            except OSError as exc:
                log.warning("watch %s: %s; reconnecting", watch.imei, exc)
                self._drop(watch)
        log.error("watch %s could not reach the gateway", watch.imei)

    def _drop(self, watch: Watch) -> None:
        if watch.sock is not None:
            with self._lock, contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(watch.sock)
            watch.sock.close()
            watch.sock = None

    def _read_replies(self) -> None:
        """Drain what the gateway says, so its output never backs up."""
        while not self._stopping.is_set():
            with self._lock:
                ready = self._selector.select(timeout=0) if self._selector.get_map() else []
            for key, _ in ready:
                sock = key.fileobj
                try:
                    data = sock.recv(4096)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if data:
                    self.replies += data.count(b"]")
                else:
                    with self._lock, contextlib.suppress(KeyError, ValueError, OSError):
                        self._selector.unregister(sock)
            self._stopping.wait(0.05)
