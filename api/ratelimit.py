"""Fixed-window rate limits kept in process memory (one API process per host)."""

from __future__ import annotations

import time
from collections.abc import Callable

from api.errors import RateLimited


class RateLimiter:
    """Allow `per_minute` hits per key per 60-second window."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str) -> None:
        """Count one hit for `key`; raise RateLimited once it is over its budget."""
        now = self.clock()
        window = int(now // 60)
        if window != self._window:
            self._window, self._counts = window, {}
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if count > self.per_minute:
            raise RateLimited("too many requests", retry_after_s=int(60 - now % 60) + 1)
