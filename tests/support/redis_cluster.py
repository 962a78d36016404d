"""A throwaway Redis Cluster: three redis-server nodes in cluster mode on free ports."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.support.services import ServiceUnavailable, wait_for_port
from tests.support.wait import wait_until

BUS_PORT_OFFSET = 10000  # Redis Cluster's node-to-node bus listens on port + 10000


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_cluster_port(taken: set[int]) -> int:
    """A free port whose bus port (+10000) is free too, both below the ephemeral range (32768),
    where outgoing connections could take one between this check and the node's start."""
    for _ in range(200):
        port = random.randint(12000, 22000)
        if port not in taken and _port_free(port) and _port_free(port + BUS_PORT_OFFSET):
            return port
    raise ServiceUnavailable("no free port pair for a Redis Cluster node")


def _start_node(state_dir: Path, port: int) -> subprocess.Popen:
    node_dir = state_dir / f"node-{port}"
    node_dir.mkdir()
    log = (node_dir / "redis.log").open("wb")
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
         "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
         "--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def _cluster_ok(ports: list[int]) -> bool:
    for port in ports:
        info = redis.Redis(port=port).cluster("info")
        if info.get("cluster_state") != "ok":
            return False
    return True


@contextmanager
def throwaway_redis_cluster(state_dir: Path, nodes: int = 3) -> Iterator[str]:
    """Start a cluster of `nodes` primaries sharing all 16384 slots; yield a node's URL."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        raise ServiceUnavailable("redis-server and redis-cli (Redis 7) are needed for this test")
    ports: list[int] = []
    for _ in range(nodes):
        ports.append(_free_cluster_port(set(ports)))
    processes = [_start_node(state_dir, port) for port in ports]
    try:
        for port in ports:
            wait_for_port(port)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        wait_until(lambda: _cluster_ok(ports), timeout_s=30, interval_s=0.1)
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
