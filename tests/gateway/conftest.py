"""A gateway running in this process (its own event loop thread), watches as TCP clients."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid

import pytest

from gateway.framing import Frame, FrameReader
from gateway.metrics import GatewayMetrics
from gateway.store import set_watch_id
from gateway.worker import GatewayService
from tests.api.conftest import (  # noqa: F401  (fixtures: API calls followed to a watch)
    api_settings,
    bind_band,
    client,
    family_world,
    link_family,
    make_actor,
    make_grid,
    make_resident,
)
from tests.ingest.conftest import ingest_service  # noqa: F401  (fixture)


class RunningGateway:
    def __init__(self, settings) -> None:
        self.service = GatewayService(settings, GatewayMetrics())
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(10)
        assert self.service.commands is not None and self.service.handover is not None
        connected = self.service.handover.connected.wait()
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(connected, 30), self.loop).result(31)
        if not self.service.commands.connected.wait(30):
            raise RuntimeError("gateway did not reach the broker")

    def metric(self, name: str, **labels: str) -> float:
        value = self.service.metrics.registry.get_sample_value(name, labels or None)
        return value or 0.0

    def stop(self) -> None:
        if not self.thread.is_alive():
            return  # stopped already, e.g. by a test that restarts the gateway
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def gateway_factory(settings):
    started: list[RunningGateway] = []

    def make(**overrides) -> RunningGateway:
        configured = settings.model_copy(
            update={
                "gateway_port": 0,
                "gateway_metrics_port": 0,
                "gateway_client_id": f"gateway-test-{uuid.uuid4().hex[:8]}",
                **overrides,
            }
        )
        running = RunningGateway(configured)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture
def gateway(gateway_factory) -> RunningGateway:
    return gateway_factory()


class Watch:
    """A watch at the TCP level: sends frames, reads what the gateway says."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = FrameReader()
        self.received: list[Frame] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def expect(self, prefix: bytes, timeout_s: float = 10) -> Frame:
        """Wait for a frame whose content starts with `prefix`; return it."""
        deadline = time.monotonic() + timeout_s
        while True:
            for frame in self.received:
                if frame.content.startswith(prefix):
                    self.received.remove(frame)
                    return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [f.content for f in self.received]
                raise AssertionError(f"no {prefix!r} from the gateway; got {seen}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not data:
                raise AssertionError(f"connection closed while waiting for {prefix!r}")
            self.received += [f for f in self.reader.feed(data) if isinstance(f, Frame)]

    def closed_by_gateway(self, timeout_s: float = 10) -> bool:
        """True once the gateway closed the connection (EOF or reset)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                if not self.sock.recv(4096):
                    return True
            except TimeoutError:
                continue
            except ConnectionResetError:
                return True
        return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def watches(gateway):
    opened: list[Watch] = []

    def connect(port: int | None = None) -> Watch:
        w = Watch(port or gateway.port)
        opened.append(w)
        return w

    yield connect
    for w in opened:
        w.close()


@pytest.fixture
def watch_band(db, new_band_ids):
    """Factory: a provisioned band whose watch speaks as the IMEI's last 10 digits."""

    def make(offset_min: int | None = None) -> tuple[str, str]:
        (imei,) = new_band_ids(1)
        set_watch_id(db, device_id=imei, watch_id=imei[-10:], offset_min=offset_min)
        return imei, imei[-10:]

    return make
