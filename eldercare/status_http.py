"""A process's status server: `GET /health` and `GET /metrics`, on a configurable address.

Shared by ingest and alerting (the API has its own `/health`). `health` returns what does not
answer (empty = healthy: 200, else 503 naming it); `post` handles other requests (alerting's
delivery receipts) and returns (status, JSON body).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import psycopg
import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from eldercare.redis_client import connect_redis
from eldercare.settings import Settings

MAX_BODY_BYTES = 1 << 20
NOT_FOUND = (404, b'{"detail":"not found"}')


def stores_unavailable(settings: Settings) -> list[str]:
    """Which of 'database' and 'redis' do not answer."""
    problems = []
    try:
        with psycopg.connect(settings.database_url.get_secret_value(), connect_timeout=2) as c:
            c.execute("SELECT 1")
    except psycopg.Error:
        problems.append("database")
    try:
        connect_redis(settings).ping()
    except (redis.RedisError, OSError):
        problems.append("redis")
    return problems


class StatusServer:
    """Serves /health, /metrics (and `post`) in a thread until `stop`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        registry: CollectorRegistry,
        health: Callable[[], list[str]],
        post: Callable[[str, bytes], tuple[int, bytes]] | None = None,
    ):
        self.host, self.port = host, port
        self.registry = registry
        self.health = health
        self.post = post
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> int:
        """Start serving; return the port bound (the configured one, or a free one for 0)."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path == "/metrics":
                    self._answer(200, generate_latest(owner.registry), CONTENT_TYPE_LATEST)
                elif self.path == "/health":
                    problems = owner.health()
                    status = "ok" if not problems else "unavailable"
                    body = orjson.dumps({"status": status, "problems": problems})
                    self._answer(503 if problems else 200, body)
                else:
                    self._answer(*NOT_FOUND)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                if owner.post is None:
                    self._answer(*NOT_FOUND)
                elif length > MAX_BODY_BYTES:
                    self._answer(413, b'{"detail":"too large"}')
                else:
                    self._answer(*owner.post(self.path, self.rfile.read(length)))

            def _answer(self, status: int, body: bytes, ctype: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, name="status", daemon=True).start()
        return self.server.server_address[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
