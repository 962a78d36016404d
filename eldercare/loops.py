"""Named, supervised loops: each runs in its own thread and restarts after a failure.

A loop is a function that runs until the shared `stopping` event is set; if it raises, the
failure is logged and the loop starts again after a jittered backoff
(`uniform(0, 1.5 ** min(10, attempt))` seconds), never in a tight loop.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable, Mapping

import psycopg
import redis

log = logging.getLogger(__name__)


def supervise(component: str, name: str, loop: Callable[[], None], stopping: threading.Event):
    """Run `loop` until `stopping` is set, restarting it with backoff whenever it ends."""
    attempt = 0
    while not stopping.is_set():
        try:
            loop()
            attempt = 0
        except (psycopg.Error, redis.RedisError, OSError):
            log.exception("%s loop %s failed; restarting", component, name)
        except Exception:
            log.exception("%s loop %s crashed unexpectedly; restarting", component, name)
        attempt += 1
        stopping.wait(random.uniform(0, 1.5 ** min(10, attempt)))


class Loops:
    """The supervised loops of one process; `stop` ends them all."""

    def __init__(self, component: str) -> None:
        self.component = component
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, loops: Mapping[str, Callable[[], None]]) -> None:
        """Start each loop in a daemon thread named after it."""
        for name, loop in loops.items():
            thread = threading.Thread(
                target=supervise,
                args=(self.component, name, loop, self.stopping),
                name=name,
                daemon=True,
            )
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask every loop to stop and wait for each up to `timeout_s`."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=timeout_s)


def stop_on_signal(component: str) -> threading.Event:
    """An event that SIGTERM or SIGINT sets (install before starting, wait on it after)."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("%s: signal %s, stopping", component, signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop
