"""Bands' logins and permissions for RabbitMQ's HTTP auth backend, read from PostgreSQL.

RabbitMQ asks its internal accounts first (the services: ingest, api, gateway, simulator),
then this service about everyone else, that is about bands. Each question is a POST to
`/auth/{user,vhost,resource,topic}`; the answer is `allow` or `deny`.

A band's credential is its `devices` row (written by the API's provisioning in the same
transaction as the band), so provisioning costs one row and takes effect at once. The MQTT
plugin sends the connection's client id with every question (verified on RabbitMQ 3.10.8),
which lets a band connect only as itself: username == client id == its IMEI.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import psycopg
from psycopg_pool import ConnectionPool

from eldercare import topics
from eldercare.broker import VHOST, band_queues, verify_password
from eldercare.imei import is_valid_imei
from eldercare.settings import Settings

log = logging.getLogger(__name__)

PasswordHashOf = Callable[[str], str | None]  # device id -> its hash, None if not active
MAX_BODY_BYTES = 4096
ALLOW, DENY = b"allow", b"deny"
BAND_EXCHANGE_PERMISSIONS = ("read", "write")  # publish to, and bind queues on, amq.topic


def allowed(question: str, fields: Mapping[str, str], password_hash_of: PasswordHashOf) -> bool:
    """Whether a band may do what RabbitMQ asks about (`question`: user/vhost/resource/topic)."""
    username = fields.get("username", "")
    client_id = fields.get("client_id", fields.get("variable_map.client_id"))
    if not is_valid_imei(username) or client_id != username or fields.get("vhost") != VHOST:
        return False
    if question == "user":
        return verify_password(fields.get("password", ""), password_hash_of(username))
    if question == "vhost":
        return True
    if question == "resource":
        return _resource_allowed(username, fields)
    if question == "topic":
        return _topic_allowed(username, fields)
    return False


def _resource_allowed(band: str, fields: Mapping[str, str]) -> bool:
    """Its own session queues (any access); publishing to and binding on the MQTT exchange."""
    resource, name = fields.get("resource"), fields.get("name")
    if resource == "queue":
        return name in band_queues(band)
    if resource == "exchange":
        return name == topics.EXCHANGE and fields.get("permission") in BAND_EXCHANGE_PERMISSIONS
    return False


def _topic_allowed(band: str, fields: Mapping[str, str]) -> bool:
    """Publish (write) only its own uplink topics; subscribe (read) only its own cmd topic."""
    if fields.get("name") != topics.EXCHANGE:
        return False
    key = fields.get("routing_key", "")
    permission = fields.get("permission")
    if permission == "write":
        return key in {topics.routing_key(topics.uplink(band, k)) for k in topics.UPLINK_KINDS}
    if permission == "read":
        return key == topics.routing_key(topics.cmd(band))
    return False


class PasswordHashes:
    """Active bands' password hashes, one primary-key lookup per login."""

    def __init__(self, database_url: str, max_connections: int = 8) -> None:
        self.pool = ConnectionPool(
            database_url, min_size=1, max_size=max_connections, open=True, name="broker-auth"
        )

    def __call__(self, device_id: str) -> str | None:
        try:
            with self.pool.connection() as conn:
                row = conn.execute(
                    """SELECT mqtt_password_hash FROM devices
                       WHERE device_id = %s AND state = 'active'""",
                    (device_id,),
                ).fetchone()
        except psycopg.Error as exc:  # the band is refused; it retries with back-off
            log.warning("band login refused, database unavailable: %s", exc)
            return None
        return row[0] if row else None

    def close(self) -> None:
        self.pool.close()


class _Server(ThreadingHTTPServer):
    """Closes the broker's kept-alive connections too when it stops."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.open_connections: set[socket.socket] = set()

    def close_open_connections(self) -> None:
        for connection in list(self.open_connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _handler(password_hash_of: PasswordHashOf) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # RabbitMQ keeps connections alive between questions
        server: _Server

        def setup(self) -> None:
            super().setup()
            self.server.open_connections.add(self.connection)

        def finish(self) -> None:
            self.server.open_connections.discard(self.connection)
            super().finish()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True  # the unread body would be the next request
                self._answer(413, b"")
                return
            self._decide(self.rfile.read(length).decode(errors="replace"))

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/health":
                self._answer(200, b"ok")
                return
            self._decide(urlsplit(self.path).query)

        def _decide(self, form: str) -> None:
            path = urlsplit(self.path).path
            question = path.removeprefix("/auth/")
            if question == path:
                self._answer(404, b"")
                return
            fields = dict(parse_qsl(form, keep_blank_values=True))
            self._answer(200, ALLOW if allowed(question, fields, password_hash_of) else DENY)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:  # one line per login is too many
            return

    return Handler


class BrokerAuthServer:
    """The HTTP service RabbitMQ asks; `port` 0 picks a free one."""

    def __init__(self, database_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.hashes = PasswordHashes(database_url)
        self.http = _Server((host, port), _handler(self.hashes))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a background thread (tests, benchmarks)."""
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering, also on the broker's open connections."""
        self.http.shutdown()
        self.http.server_close()
        self.http.close_open_connections()
        self.hashes.close()


def run_broker_auth(settings: Settings) -> int:
    """`eldercare broker-auth`: serve until SIGTERM/Ctrl-C."""
    server = BrokerAuthServer(
        settings.database_url.get_secret_value(),
        settings.broker_auth_host,
        settings.broker_auth_port,
    )
    log.info("broker auth service on %s", server.url)
    try:
        server.http.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.http.server_close()
        server.hashes.close()
    return 0
