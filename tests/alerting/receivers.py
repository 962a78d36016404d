"""Real HTTP webhook receivers on loopback, recording what they get."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    at: float = 0.0  # wall-clock time of arrival

    @property
    def json(self) -> dict:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """A gateway: answers `status` (settable), records every request."""

    status: int = 200
    received: list[Received] = field(default_factory=list)
    on_request: object = None  # callable run before answering (e.g. to block)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = time.time()
                receiver.received.append(Received(self.path, dict(self.headers), body, arrived))
                if receiver.on_request:
                    receiver.on_request()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> list[str]:
        return [r.headers["Idempotency-Key"] for r in self.received]


def start_receivers(settings, **extra) -> tuple:
    """Community, family and 120 receivers, and settings pointing the dispatcher at them."""
    recv = {name: Receiver().start() for name in ("community", "family", "g120")}
    configured = settings.model_copy(
        update={
            "alerting_community_gateway_url": recv["community"].url,
            "alerting_family_gateway_url": recv["family"].url,
            "alerting_gateway_120_url": recv["g120"].url,
            **extra,
        }
    )
    return configured, recv
