"""Finding or starting the real services the tests need.

Order: ELDERCARE_TEST_* variables, else testcontainers where a Docker engine answers,
else a failure that says what to run. Brokers are always throwaway instances with the
project's config, because tests provision band credentials into them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from pydantic import SecretStr

from eldercare.broker import DEV_SERVICE_ACCOUNTS, BrokerAdmin, bootstrap, hash_password
from eldercare.broker_auth import BrokerAuthServer
from eldercare.broker_node import RABBITMQ_SERVER, Node, launch, wait_listening
from eldercare.settings import Settings

HOW_TO_FIX = (
    "run `make test` (it runs deploy/native/setup.sh first), or set ELDERCARE_TEST_DATABASE_URL, "
    "ELDERCARE_TEST_REDIS_URL and install rabbitmq-server, or start a Docker engine"
)


class ServiceUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise ServiceUnavailable(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def postgres_admin_url() -> str:
    """URL of a server where tests may create databases."""
    url = os.environ.get("ELDERCARE_TEST_DATABASE_URL")
    if url:
        return url
    if _docker_available():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("timescale/timescaledb:2.19.3-pg15", driver=None)
        container.start()
        return container.get_connection_url()
    raise ServiceUnavailable(f"no PostgreSQL with TimescaleDB for tests: {HOW_TO_FIX}")


def redis_url() -> str:
    url = os.environ.get("ELDERCARE_TEST_REDIS_URL")
    if url:
        return url
    if _docker_available():
        from testcontainers.redis import RedisContainer

        container = RedisContainer("redis:7")
        container.start()
        host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
        return f"redis://{host}:{port}/0"
    raise ServiceUnavailable(f"no Redis for tests: {HOW_TO_FIX}")


def create_database(admin_url: str, prefix: str = "eldercare_test") -> str:
    """Create an empty database with TimescaleDB; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(_with_db(admin_url, name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    return _with_db(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_db(url: str, dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)


@dataclass
class ThrowawayBroker:
    """A RabbitMQ node with the project's config (auth, permissions, ingest queue) on free ports.

    `cluster` names the nodes it joins when it is one of several (see `throwaway_cluster`).
    With `database_url`, bands log in through an auth service of its own (in this process)
    that reads that database's `devices`; without, only service accounts can.
    """

    state_dir: Path
    database_url: str | None = None
    name: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:8]}")
    cluster: list[str] = field(default_factory=list)
    node: Node = field(init=False)
    process: subprocess.Popen | None = None
    auth: BrokerAuthServer | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.database_url is not None:
            self.auth = BrokerAuthServer(self.database_url)
            self.auth.start()
        self.node = Node(
            state_dir=self.state_dir,
            amqp_port=free_port(),
            mqtt_port=free_port(),
            http_port=free_port(),
            dist_port=free_port(),
            name=self.name,
            cluster=self.cluster,
            cookie=f"cookie-{self.state_dir.parent.name}",
            auth_url=self.auth.url if self.auth else f"http://127.0.0.1:{free_port()}",
        )

    @property
    def port(self) -> int:
        return self.node.mqtt_port

    @property
    def admin(self) -> BrokerAdmin:
        return BrokerAdmin(self.node.admin_url)

    def launch(self) -> None:
        """Start the node without waiting for it."""
        if not RABBITMQ_SERVER.exists():
            raise ServiceUnavailable(f"rabbitmq-server is not installed: {HOW_TO_FIX}")
        self.process = launch(self.node)

    def start(self, bootstrap_accounts: bool = True) -> None:
        """Start (or restart) the node, wait until it listens; declare accounts and queue."""
        self.launch()
        self.wait_ready()
        if bootstrap_accounts:
            bootstrap(self.admin, DEV_SERVICE_ACCOUNTS, "ingest", 3)

    def wait_ready(self, timeout_s: float = 90) -> None:
        try:
            wait_listening(self.node, timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure to start says the same
            raise ServiceUnavailable(
                f"broker node did not start: see {self.state_dir}/log"
            ) from exc

    def stop(self) -> None:
        """Stop cleanly (SIGTERM: the node closes its queues and exits)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def kill(self) -> None:
        """Crash the node: SIGKILL to every process of its session (the Erlang VM and helpers)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=10)

    def close_auth(self) -> None:
        """Stop the auth service (after the node: the last teardown step)."""
        if self.auth is not None:
            self.auth.stop()
            self.auth = None

    def settings_for(self, settings: Settings, **more: object) -> Settings:
        """`settings` with every broker URL pointing at this broker."""
        update: dict[str, object] = {
            "amqp_url": SecretStr(self.amqp_url("ingest")),
            "simulator_mqtt_url": SecretStr(self.url("simulator")),
            "api_mqtt_url": SecretStr(self.url("api")),
            "gateway_mqtt_url": SecretStr(self.url("gateway")),
            "gateway_amqp_url": SecretStr(self.amqp_url("gateway")),
            "broker_admin_url": SecretStr(self.node.admin_url),
        }
        return settings.model_copy(update={**update, **more})

    def add_band(self, device_id: str, password: str) -> None:
        """Give a band credentials, as provisioning does: its active `devices` row."""
        if self.database_url is None:
            raise ValueError("bands log in only on a broker started with a database_url")
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(
                """INSERT INTO devices (device_id, mqtt_password_hash, provisioned_at)
                   VALUES (%s, %s, now())
                   ON CONFLICT (device_id) DO UPDATE
                   SET mqtt_password_hash = EXCLUDED.mqtt_password_hash, state = 'active',
                       provisioned_at = now(), revoked_at = NULL""",
                (device_id, hash_password(password)),
            )

    def url(self, user: str = "simulator") -> str:
        """An MQTT URL with a service account's credentials."""
        return f"mqtt://{user}:{DEV_SERVICE_ACCOUNTS[user]}@127.0.0.1:{self.node.mqtt_port}"

    def amqp_url(self, user: str = "ingest") -> str:
        return f"amqp://{user}:{DEV_SERVICE_ACCOUNTS[user]}@127.0.0.1:{self.node.amqp_port}/%2F"


def throwaway_cluster(
    base: Path, database_url: str | None = None, size: int = 3
) -> list[ThrowawayBroker]:
    """`size` nodes clustered on this machine, with the project's accounts and queue.

    The first node starts alone; the others join it (classic peer discovery). Each node asks
    an auth service of its own, as in production, where one runs beside each node.
    """
    names = [f"c{i}-{uuid.uuid4().hex[:6]}" for i in range(size)]
    seed = f"{names[0]}@localhost"
    nodes = [
        ThrowawayBroker(
            state_dir=base / name,
            database_url=database_url,
            name=name,
            cluster=[] if i == 0 else [seed],
        )
        for i, name in enumerate(names)
    ]
    nodes[0].start(bootstrap_accounts=False)
    for node in nodes[1:]:
        node.launch()
    for node in nodes[1:]:
        node.wait_ready()
    deadline = time.monotonic() + 60
    while len(nodes[0].admin.running_nodes()) < size:
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"only {nodes[0].admin.running_nodes()} joined the cluster")
        time.sleep(0.5)
    bootstrap(nodes[0].admin, DEV_SERVICE_ACCOUNTS, "ingest", size)
    return nodes
