"""Run several services as child processes and stop them all together."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)


def run_services(commands: Mapping[str, Sequence[str]], grace_s: float = 10.0) -> int:
    """Start each `eldercare` subcommand as a process; on Ctrl-C or a child's exit stop all."""
    children = {
        name: subprocess.Popen([sys.executable, "-m", "eldercare.cli", *args])
        for name, args in commands.items()
    }
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                log.error("service %s exited with %s; stopping the others", name, child.returncode)
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.2)
    _stop_all(children, grace_s)
    return exit_code


def _stop_all(children: dict[str, subprocess.Popen], grace_s: float) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("service %s did not stop in time; killing it", name)
            child.kill()
            child.wait()
