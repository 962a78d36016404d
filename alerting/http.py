"""The alerting process's own HTTP server: `/health`, `/metrics`, and providers' receipts.

`POST /receipts/<provider>/<kind>/<token>` (aliyun/sms, aliyun/voice, tencent/sms) takes a
provider's delivery receipts; the token (ELDERCARE_ALERTING_RECEIPT_TOKEN) is part of the URL
registered with the provider, since providers do not sign their pushes.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import psycopg
import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from alerting.channels import receipts
from eldercare.cache import connect_redis
from eldercare.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20


class AlertingHttp:
    """Serves health, metrics and receipts on settings.alerting_http_host:port."""

    def __init__(
        self, settings: Settings, registry: CollectorRegistry, clock: Callable[[], datetime]
    ):
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self.token = settings.alerting_receipt_token.get_secret_value()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> int:
        """Start serving in a thread; return the port (useful when configured as 0)."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path == "/metrics":
                    self._answer(200, generate_latest(owner.registry), CONTENT_TYPE_LATEST)
                elif self.path == "/health":
                    problems = owner.health()
                    body = orjson.dumps({"status": "ok" if not problems else "unavailable",
                                         "problems": problems})  # fmt: skip
                    self._answer(503 if problems else 200, body)
                else:
                    self._answer(404, b'{"detail":"not found"}')

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._answer(413, b'{"detail":"too large"}')
                    return
                status, body = owner.receive(self.path, self.rfile.read(length))
                self._answer(status, body)

            def _answer(self, status: int, body: bytes, ctype: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        s = self.settings
        self.server = ThreadingHTTPServer((s.alerting_http_host, s.alerting_http_port), Handler)
        threading.Thread(target=self.server.serve_forever, name="http", daemon=True).start()
        return self.server.server_address[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def health(self) -> list[str]:
        """What does not answer: 'database', 'redis'."""
        problems = []
        try:
            with psycopg.connect(
                self.settings.database_url.get_secret_value(), connect_timeout=2
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            problems.append("database")
        try:
            connect_redis(self.settings).ping()
        except redis.RedisError:
            problems.append("redis")
        return problems

    def receive(self, path: str, body: bytes) -> tuple[int, bytes]:
        """Handle a receipts push; (HTTP status, answer body as the provider expects it)."""
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "receipts" or parts[1] not in receipts.ANSWERS:
            return 404, b'{"detail":"not found"}'
        _, provider, kind, token = parts
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return 404, b'{"detail":"not found"}'
        try:
            found = receipts.parse(provider, kind, orjson.loads(body))
        except (orjson.JSONDecodeError, receipts.BadReceipt) as exc:
            return 400, orjson.dumps({"detail": str(exc)})
        try:
            with psycopg.connect(
                self.settings.database_url.get_secret_value(), autocommit=True
            ) as conn:
                receipts.apply(conn, found, now=self.clock())
        except psycopg.Error:
            log.exception("receipts from %s/%s could not be recorded", provider, kind)
            return 503, b'{"detail":"try again"}'  # the provider pushes again
        return 200, orjson.dumps(receipts.ANSWERS[provider])
