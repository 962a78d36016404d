"""Messages received but not yet committed, in arrival order."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ingest.parse import ParsedMessage


@dataclass(slots=True)
class Received:
    delivery_tag: int
    generation: int  # which broker connection delivered it; acks go only to that one
    message: ParsedMessage


class Buffer:
    """A thread-safe queue that hands out batches by size, age or urgency."""

    def __init__(self, max_messages: int, max_age_s: float) -> None:
        self.max_messages = max_messages
        self.max_age_s = max_age_s
        self._items: list[Received] = []
        self._oldest_at = 0.0
        self._urgent = False
        self._ready = threading.Condition()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Received) -> None:
        with self._ready:
            if not self._items:
                self._oldest_at = time.monotonic()
            self._items.append(item)
            self._urgent = self._urgent or item.message.urgent
            if self._urgent or len(self._items) >= self.max_messages:
                self._ready.notify()

    def take(self, timeout_s: float) -> list[Received]:
        """Wait until a batch is due (full, old enough or urgent) and return it."""
        deadline = time.monotonic() + timeout_s
        with self._ready:
            while True:
                now = time.monotonic()
                due_at = self._oldest_at + self.max_age_s if self._items else deadline
                if self._items and (
                    self._urgent or len(self._items) >= self.max_messages or now >= due_at
                ):
                    break
                if now >= deadline:
                    return []
                self._ready.wait(min(due_at, deadline) - now)
            batch, self._items = self._items, []
            self._urgent = False
            return batch
