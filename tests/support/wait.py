"""Waiting on a condition with a deadline (never sleep-then-assert)."""

from __future__ import annotations

import time


def wait_until(predicate, timeout_s: float = 20, interval_s: float = 0.05):
    """Poll until predicate() is truthy; return its value or raise AssertionError."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(interval_s)
