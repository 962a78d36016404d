"""Stand-ins for the community, family and 120 gateways, so the demo's notices arrive.

Development configures the three signed webhooks on loopback ports where nothing listens, so
every notice of `make run` used to fail and each SOS raised "call 120 now" a minute later.
These stand-ins listen on those URLs, check the `X-Eldercare-Signature` header (HMAC-SHA256 of
the body with the gateway's secret, as the README documents it), log one line per notice and
answer 200; a wrong signature gets 401, as a real gateway would refuse it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import orjson

from eldercare.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class StandInGateway:
    """One gateway: where it listens, its secret, and what it accepted."""

    name: str
    host: str
    port: int
    path: str
    secret: str
    accepted: list[dict] = field(default_factory=list)
    refused: int = 0

    def verdict(self, path: str, signature: str, body: bytes) -> int:
        """The HTTP status a real gateway would answer to this request."""
        if path != self.path:
            return 404
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            self.refused += 1
            return 401
        try:
            notice = orjson.loads(body)
        except orjson.JSONDecodeError:
            return 400
        self.accepted.append(notice)
        log.info("demo %s gateway received a notice: %s", self.name, _summary(notice))
        return 200


def _summary(notice: object) -> str:
    """Target, rule and alert of a notice, never its personal data (names, phones, positions)."""
    if not isinstance(notice, dict):
        return "?"
    nested = notice.get("alert")
    alert: dict = nested if isinstance(nested, dict) else notice
    parts = {
        "target": notice.get("target"),
        "rule": alert.get("rule") or alert.get("kind"),  # the 120 payload names it `kind`
        "alert_id": alert.get("alert_id"),
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value is not None)


def demo_gateways(settings: Settings) -> list[StandInGateway]:
    """The configured gateways whose URL is on this machine (the development defaults)."""
    wanted = (
        (
            "community",
            settings.alerting_community_gateway_url,
            settings.alerting_community_gateway_secret,
        ),
        ("family", settings.alerting_family_gateway_url, settings.alerting_family_gateway_secret),
        ("120", settings.alerting_gateway_120_url, settings.alerting_gateway_120_secret),
    )
    gateways = []
    for name, url, secret in wanted:
        parts = urlsplit(url)
        if parts.scheme == "http" and parts.hostname in LOOPBACK and parts.port:
            gateways.append(
                StandInGateway(
                    name, parts.hostname, parts.port, parts.path or "/", secret.get_secret_value()
                )
            )
    return gateways


def serve(gateway: StandInGateway) -> ThreadingHTTPServer:
    """Start answering for `gateway` on a daemon thread; `shutdown()` the result to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                status = 413
            else:
                body = self.rfile.read(length)
                signature = self.headers.get("X-Eldercare-Signature", "")
                status = gateway.verdict(self.path, signature, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass  # one line per notice is logged by `verdict`

    server = ThreadingHTTPServer((gateway.host, gateway.port), Handler)
    threading.Thread(target=server.serve_forever, name=f"demo-{gateway.name}", daemon=True).start()
    return server


def run_demo_gateways(settings: Settings, stop: threading.Event) -> int:
    """Serve every loopback gateway until `stop` is set (development only)."""
    if settings.environment != "development":
        log.error("the demo gateways run in development only, not in %s", settings.environment)
        return 2
    servers = []
    for gateway in demo_gateways(settings):
        try:
            servers.append(serve(gateway))
        except OSError as exc:  # something answers there already (a real gateway?): leave it
            log.warning(
                "demo %s gateway not started on port %s: %s", gateway.name, gateway.port, exc
            )
            continue
        log.info("demo %s gateway listening on %s:%s", gateway.name, gateway.host, gateway.port)
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0
