"""A throwaway PostgreSQL 15 + TimescaleDB cluster, for tests that restart the database."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.services import ServiceUnavailable, free_port, wait_for_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class ThrowawayPostgres:
    port: int = field(default_factory=free_port)
    data_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise ServiceUnavailable("PostgreSQL 15 server binaries are not installed")
        self.data_dir = Path(tempfile.mkdtemp(prefix="eldercare-pg-")) / "data"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:  # the server refuses to run as root
            shutil.chown(self.data_dir.parent, "postgres")
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data_dir.parent} -c listen_addresses=127.0.0.1 "
            "-c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-w",
            "-l",
            str(self.data_dir.parent / "server.log"),
            "start",
        )
        wait_for_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def postgres_user_exists() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return True
