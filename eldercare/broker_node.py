"""Running the project's own RabbitMQ node(s) beside any system instance.

A node is a state dir (config, data, logs) plus four ports: AMQP (ingest), MQTT (bands),
HTTP (management API: accounts) and Erlang distribution (clustering). The native set-up
starts one with `python3 -m eldercare.broker_node start STATE_DIR`; tests start throwaway
ones and clusters of three. Standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from eldercare.broker import ADMIN_USER, DEV_ADMIN_PASSWORD, BrokerAdmin

RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/lib/rabbitmq_server-3.10.8/sbin/rabbitmq-server")
PLUGINS = "[rabbitmq_management,rabbitmq_mqtt,rabbitmq_auth_backend_http]."
AUTH_QUESTIONS = ("user", "vhost", "resource", "topic")
START_TIMEOUT_S = 60.0


@dataclass
class Node:
    """One RabbitMQ node of the project: where it keeps its files, which ports it uses."""

    state_dir: Path
    amqp_port: int = 5673
    mqtt_port: int = 1884
    http_port: int = 15673
    dist_port: int = 25673
    name: str = "eldercare"
    bind: str = "127.0.0.1"
    cluster: list[str] = field(default_factory=list)  # node names to form a cluster with
    admin_password: str = DEV_ADMIN_PASSWORD
    cookie: str = "eldercare-dev-cookie"
    auth_url: str = "http://127.0.0.1:8090"  # `eldercare broker-auth`: bands' logins

    @property
    def node_name(self) -> str:
        return f"{self.name}@localhost"

    @property
    def admin_url(self) -> str:
        return f"http://{ADMIN_USER}:{self.admin_password}@127.0.0.1:{self.http_port}"

    def pid(self) -> int | None:
        """Pid of this node's running broker, or None."""
        try:
            pid = int((self.state_dir / "rabbitmq.pid").read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        return pid


def render_config(node: Node) -> str:
    """rabbitmq.conf: loopback listeners, no anonymous MQTT, our admin, fsync before PUBACK."""
    lines = [
        f"listeners.tcp.default = {node.bind}:{node.amqp_port}",
        f"mqtt.listeners.tcp.default = {node.bind}:{node.mqtt_port}",
        f"management.tcp.ip = {node.bind}",
        f"management.tcp.port = {node.http_port}",
        "mqtt.allow_anonymous = false",
        "mqtt.vhost = /",
        "mqtt.exchange = amq.topic",
        # A band's persistent session (its cmd queue) lives a week without it, like before.
        "mqtt.subscription_ttl = 604800000",
        "loopback_users = none",
        f"default_user = {ADMIN_USER}",
        f"default_pass = {node.admin_password}",
        "default_user_tags.administrator = true",
        # The contract's 64 KiB limit is ingest's to enforce (as `too_large`); the broker
        # takes up to 256 KiB so an oversized payload is recorded, not lost.
        "max_message_size = 262144",
        "log.file.level = warning",
        "log.console = false",
        *auth_config(node.auth_url),
    ]
    if node.cluster:
        lines.append("cluster_formation.peer_discovery_backend = classic_config")
        lines += [
            f"cluster_formation.classic_config.nodes.{n} = {peer}"
            for n, peer in enumerate(node.cluster, start=1)
        ]
    return "\n".join(lines) + "\n"


def auth_config(auth_url: str) -> list[str]:
    """Service accounts are internal users; RabbitMQ asks `eldercare broker-auth` about bands.

    No auth cache: a revoked band must be refused at its next login, and one primary-key
    lookup per login is cheap.
    """
    return [
        "auth_backends.1 = internal",
        "auth_backends.2 = http",
        "auth_http.http_method = post",
        *(f"auth_http.{q}_path = {auth_url}/auth/{q}" for q in AUTH_QUESTIONS),
    ]


def environment(node: Node) -> dict[str, str]:
    """The variables that give a node its own files, ports and name."""
    d = node.state_dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
    env.update(
        {
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),  # not the system's
            "RABBITMQ_NODENAME": node.node_name,
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(d / "data"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(d / "plugins-expand"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "HOME": str(d),
        }
    )
    return env


def prepare(node: Node) -> None:
    """Write the node's files (idempotent)."""
    node.state_dir.mkdir(parents=True, exist_ok=True)
    (node.state_dir / "rabbitmq-env.conf").write_text("")
    (node.state_dir / "rabbitmq.conf").write_text(render_config(node))
    (node.state_dir / "enabled_plugins").write_text(PLUGINS + "\n")
    # HOME is the state dir: nodes of one cluster share this cookie, and nobody else's.
    cookie = node.state_dir / ".erlang.cookie"
    if not cookie.exists() or cookie.read_text() != node.cookie:
        cookie.unlink(missing_ok=True)
        cookie.write_text(node.cookie)
        cookie.chmod(0o400)


def launch(node: Node) -> subprocess.Popen:
    """Start the node in its own session (it outlives the caller); return the process."""
    if not RABBITMQ_SERVER.exists():
        raise FileNotFoundError(f"{RABBITMQ_SERVER} missing: apt-get install rabbitmq-server")
    prepare(node)
    out = open(node.state_dir / "stdout.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        [str(RABBITMQ_SERVER)],
        env=environment(node),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=node.state_dir,  # where an Erlang crash dump lands
        start_new_session=True,
    )


def wait_listening(node: Node, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until the management API, AMQP and MQTT listeners answer."""
    BrokerAdmin(node.admin_url).wait_ready(timeout_s)
    deadline = time.monotonic() + timeout_s
    for port in (node.amqp_port, node.mqtt_port):
        while not _listening(port):
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {node.node_name}: nothing listens on {port}")
            time.sleep(0.1)


def stop(node: Node, timeout_s: float = 60.0) -> None:
    """Stop the node cleanly (SIGTERM) and wait for it to exit."""
    pid = node.pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while node.pid() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    # The Erlang VM can hold its listeners a moment after the pid is gone; a node started
    # then fails with dist_port_already_used (seen when setup.sh restarted a changed node).
    ports = (node.dist_port, node.amqp_port, node.mqtt_port, node.http_port)
    while any(_listening(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.1)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_native(state_dir: Path) -> None:
    """`make run`/`make test` set-up: start the project's node unless it runs with this config.

    `eldercare run` (or `broker-setup`) then gives it the service accounts and ingest's queue.
    """
    node = Node(
        state_dir=state_dir,
        amqp_port=int(os.environ.get("ELDERCARE_BROKER_AMQP_PORT", 5673)),
        mqtt_port=int(os.environ.get("ELDERCARE_BROKER_MQTT_PORT", 1884)),
        http_port=int(os.environ.get("ELDERCARE_BROKER_HTTP_PORT", 15673)),
        dist_port=int(os.environ.get("ELDERCARE_BROKER_DIST_PORT", 25673)),
        admin_password=os.environ.get("ELDERCARE_BROKER_ADMIN_PASSWORD", DEV_ADMIN_PASSWORD),
        auth_url=f"http://127.0.0.1:{os.environ.get('ELDERCARE_BROKER_AUTH_PORT', 8090)}",
    )
    config = state_dir / "rabbitmq.conf"
    if node.pid() is not None and (
        not config.exists() or config.read_text() != render_config(node)
    ):
        print("[setup] restarting the project broker: its configuration changed")
        stop(node)
    if node.pid() is None:
        launch(node)
        print(f"[setup] starting the project broker (RabbitMQ) in {state_dir}")
    wait_listening(node)
    print(
        f"[setup] project broker ready: MQTT 127.0.0.1:{node.mqtt_port}, "
        f"AMQP {node.amqp_port}, management {node.http_port}, bands' logins via {node.auth_url}"
    )


USAGE = "usage: python3 -m eldercare.broker_node start STATE_DIR"

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "start":
        raise SystemExit(USAGE)
    start_native(Path(sys.argv[2]))
