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

from eldercare.broker_files import (
    DEV_SERVICE_ACCOUNTS,
    broker_pid,
    hash_password,
    prepare_state_dir,
    read_password_file,
    reload_broker,
    write_password_file,
)

HOW_TO_FIX = (
    "run `make test` (it runs deploy/native/setup.sh first), or set ELDERCARE_TEST_DATABASE_URL, "
    "ELDERCARE_TEST_REDIS_URL and have mosquitto on PATH, or start a Docker engine"
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
    """A Mosquitto with the project's config (auth, ACLs, limits) on a free port."""

    state_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def start(self) -> None:
        if shutil.which("mosquitto") is None:
            raise ServiceUnavailable(f"mosquitto is not installed: {HOW_TO_FIX}")
        config = prepare_state_dir(self.state_dir, self.port, DEV_SERVICE_ACCOUNTS)
        log = open(self.state_dir / "stderr.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(["mosquitto", "-c", str(config)], stderr=log)
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop cleanly (the broker saves its persistent sessions)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def add_band(self, device_id: str, password: str) -> None:
        """Give a band credentials, as provisioning does, and make the broker accept them."""
        passwd = self.state_dir / "passwd"
        entries = read_password_file(passwd)
        entries[device_id] = hash_password(password)
        write_password_file(passwd, entries)
        if broker_pid(self.state_dir) is not None:
            reload_broker(self.state_dir)
            time.sleep(0.2)

    def url(self, user: str = "ingest") -> str:
        return f"mqtt://{user}:{DEV_SERVICE_ACCOUNTS[user]}@127.0.0.1:{self.port}"
