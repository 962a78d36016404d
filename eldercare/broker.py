"""The broker's service accounts and ingest's queue, managed through RabbitMQ's HTTP API.

Service accounts (ingest, api, simulator, gateway) are RabbitMQ internal users. Bands are
not: RabbitMQ asks `eldercare.broker_auth` about them, which reads their `devices` row. Here
also the band's password hash (RabbitMQ's salted SHA-256 format, kept from when bands were
internal users) and closing a revoked band's live connections.
Standard library only, so the native set-up can use it before any virtualenv exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from eldercare import topics
from eldercare.imei import is_valid_imei

VHOST = "/"
HASHING = "rabbit_password_hashing_sha256"
SALT_BYTES = 4
MQTT_SESSION_QUEUES = "mqtt-subscription-.*"  # queues the MQTT plugin makes for subscribers


class BrokerError(RuntimeError):
    """The broker's management API refused or did not answer; carries the reason."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Grant:
    """What an account may do: publish and subscribe to kinds of band topics, own queues.

    `band` is a regex for the band level of the topic. (Bands themselves are answered by
    `eldercare.broker_auth`, not granted here.)
    """

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    band: str = topics.ANY_BAND_PATTERN
    queues: str = MQTT_SESSION_QUEUES  # queues it may declare, bind and read

    def permissions(self) -> dict[str, str]:
        """Resource permissions on the vhost (queues; the exchange to publish and bind)."""
        own = f"^({self.queues})$"
        exchange_or_own = f"^({self.queues}|{re.escape(topics.EXCHANGE)})$"
        return {"configure": own, "write": exchange_or_own, "read": exchange_or_own}

    def topic_permissions(self) -> dict[str, str]:
        """Topic permissions on amq.topic: publish = write, subscribe/bind = read."""
        return {
            "exchange": topics.EXCHANGE,
            "write": topics.key_pattern(self.band, self.publish),
            "read": topics.key_pattern(self.band, self.subscribe),
        }


DOWNLINK = (topics.DOWNLINK_KIND,)
INGEST_QUEUES = f"ingest.*|{MQTT_SESSION_QUEUES}"

# Service accounts: one line each, with the development password Settings defaults to.
SERVICE_ACCOUNTS: dict[str, tuple[Grant, str]] = {
    "ingest": (Grant(DOWNLINK, topics.UPLINK_KINDS, queues=INGEST_QUEUES), "dev-ingest-secret"),
    "api": (Grant(DOWNLINK, ()), "dev-api-secret"),
    "simulator": (Grant(topics.UPLINK_KINDS, DOWNLINK), "dev-simulator-secret"),
    # The 4G watch gateway publishes bands' uplinks on their behalf and reads their commands.
    "gateway": (Grant(topics.UPLINK_KINDS, DOWNLINK), "dev-gateway-secret"),
}
DEV_SERVICE_ACCOUNTS = {name: password for name, (_grant, password) in SERVICE_ACCOUNTS.items()}
ADMIN_USER = "eldercare-admin"
DEV_ADMIN_PASSWORD = "dev-broker-admin-secret"  # noqa: S105 - refused in production


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash a password as RabbitMQ's rabbit_password_hashing_sha256 stores it.

    Fast on purpose: band passwords are 192-bit random tokens (no dictionary to try), and a
    slow hash would cost every band's login CPU on the auth service (a reconnect storm).
    """
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether `password` is the one `hash_password` hashed; False for no hash."""
    try:
        salt = base64.b64decode(password_hash or "", validate=True)[:SALT_BYTES]
    except ValueError:
        return False
    if len(salt) < SALT_BYTES:
        return False
    return hmac.compare_digest(hash_password(password, salt=salt), password_hash or "")


def band_queues(device_id: str) -> tuple[str, ...]:
    """The session queues the MQTT plugin declares for a band (client id = device id)."""
    return tuple(f"mqtt-subscription-{device_id}qos{qos}" for qos in (0, 1))


def ingest_queue_arguments(replicas: int) -> dict[str, object]:
    """Ingest's queue: quorum (replicated, fsynced before the band's PUBACK), durable."""
    return {"x-queue-type": "quorum", "x-quorum-initial-group-size": replicas}


class BrokerAdmin:
    """RabbitMQ's management HTTP API: `http://user:password@host:port[,host:port...]`.

    With several nodes listed, a node that does not answer is skipped.
    """

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"broker admin URL must be http(s)://, got {parts.scheme!r}")
        credentials, _, hosts = parts.netloc.rpartition("@")
        user, _, password = credentials.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        self._https = parts.scheme == "https"
        self._hosts = hosts.split(",")
        self._open: dict[str, http.client.HTTPConnection] = {}  # kept alive between calls
        self.timeout_s = timeout_s

    def _connection(self, host: str) -> http.client.HTTPConnection:
        if host not in self._open:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._open[host] = kind(host, timeout=self.timeout_s)
        return self._open[host]

    def _call(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        last: Exception | None = None
        for host in self._hosts:
            for attempt in (1, 2):  # a kept-alive connection the node closed: open anew
                connection = self._connection(host)
                try:
                    connection.request(method, "/api" + path, body=data, headers=self._headers)
                    response = connection.getresponse()
                    raw = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()
                    del self._open[host]
                    last = exc
                    if attempt == 1 and isinstance(exc, http.client.RemoteDisconnected):
                        continue
                    break
                if response.status >= 400:
                    detail = raw.decode(errors="replace")[:200]
                    status = response.status
                    raise BrokerError(f"{method} {path}: {status} {detail}", status)
                return json.loads(raw) if raw else None
        raise BrokerError(f"{method} {path}: broker unreachable ({last})")

    def put_user(self, name: str, password_hash: str, grant: Grant, tags: str = "") -> None:
        """Create or replace an account and its permissions; effective for the next login."""
        user = quote(name, safe="")
        body = {"password_hash": password_hash, "hashing_algorithm": HASHING, "tags": tags}
        self._call("PUT", f"/users/{user}", body)
        self._call("PUT", f"/permissions/{quote(VHOST, safe='')}/{user}", grant.permissions())
        self._call(
            "PUT", f"/topic-permissions/{quote(VHOST, safe='')}/{user}", grant.topic_permissions()
        )

    def _on_user(self, method: str, name: str) -> bool:
        """Call `method` on an account; False if there is no such account."""
        try:
            self._call(method, f"/users/{quote(name, safe='')}")
        except BrokerError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete_user(self, name: str) -> bool:
        """Remove an account; the broker closes its connections at once. False if absent."""
        return self._on_user("DELETE", name)

    def user_exists(self, name: str) -> bool:
        """Whether an account exists."""
        return self._on_user("GET", name)

    def user_names(self) -> list[str]:
        """Names of every internal account."""
        answer = self._call("GET", "/users?columns=name")
        return [user["name"] for user in answer] if isinstance(answer, list) else []

    def close_connections_of(self, name: str) -> None:
        """Close every connection logged in as `name`, on every node (none is no error)."""
        self._call("DELETE", f"/connections/username/{quote(name, safe='')}")

    def declare_ingest_queue(self, name: str, replicas: int) -> None:
        """Ingest's durable queue, bound to every band's uplink topics (idempotent)."""
        vhost = quote(VHOST, safe="")
        body = {"durable": True, "arguments": ingest_queue_arguments(replicas)}
        self._call("PUT", f"/queues/{vhost}/{quote(name, safe='')}", body)
        for key in topics.uplink_bindings():
            path = f"/bindings/{vhost}/e/{topics.EXCHANGE}/q/{quote(name, safe='')}"
            self._call("POST", path, {"routing_key": key})

    def queue(self, name: str) -> dict:
        """The queue's state as the management API reports it."""
        answer = self._call("GET", f"/queues/{quote(VHOST, safe='')}/{quote(name, safe='')}")
        return answer if isinstance(answer, dict) else {}

    def running_nodes(self) -> list[str]:
        """Names of the cluster's nodes that run now."""
        answer = self._call("GET", "/nodes")
        nodes = answer if isinstance(answer, list) else []
        return sorted(node["name"] for node in nodes if node.get("running"))

    def connections(self) -> list[dict]:
        """Open client connections: user, node, client properties."""
        answer = self._call("GET", "/connections")
        return answer if isinstance(answer, list) else []

    def wait_ready(self, timeout_s: float) -> None:
        """Wait until the management API answers (a starting node)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._call("GET", "/overview")
                return
            except BrokerError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def remove_band_accounts(admin: BrokerAdmin) -> int:
    """Delete bands' internal accounts from before the auth service; return how many.

    The internal backend is asked first, so such an account would bypass the client-id check.
    """
    bands = [name for name in admin.user_names() if is_valid_imei(name)]
    for name in bands:
        admin.delete_user(name)
    return len(bands)


def bootstrap(admin: BrokerAdmin, passwords: dict[str, str], queue: str, replicas: int) -> None:
    """Service accounts and ingest's queue, so bands' messages queue before ingest first runs."""
    for name, (grant, _dev) in SERVICE_ACCOUNTS.items():
        admin.put_user(name, hash_password(passwords[name]), grant)
    admin.declare_ingest_queue(queue, replicas)
    remove_band_accounts(admin)
