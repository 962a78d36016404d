"""Reading one engine shard's entries of the stored streams ingest writes after each commit.

A shard reads its own stream (`keys.stored_stream(prefix, index, count)`) with its consumer
group; replicas of the shard share the group. Entry fields: `batch`, JSON
{"committed_at_ms", "telemetry", "location", "status": [device_id, ...], "events": [...]}
naming only bands of that shard (see `ingest.hot_state.shard_entries`).

After a change of alerting_shard_count, streams of the old count (and the single stream of
earlier releases) may still hold entries nobody has read. They are "foreign": every shard of
the new count reads each of them in full with its own group and keeps what concerns its bands
(the caller filters by ownership, as it does anyway). A foreign stream is deleted, by one Lua
call that checks it first, once every shard of the current count has read and acknowledged
all of it; if an old ingest writes to it again, it comes back and is drained again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis

from eldercare import keys
from eldercare.settings import Settings

# How soon entries held back after a failure are read again.
STREAM_RETRY_S = 5.0
# How often the shard counts ingest has written are looked up, and drained streams deleted.
FOREIGN_CHECK_S = 10.0

Entry = tuple[Any, Any]  # (entry id, fields: None when trimmed while pending)

# KEYS[1]: a foreign stored stream; ARGV: the groups of every shard of the current count.
# Deletes the stream if each group has read every entry and acknowledged them all.
_RETIRE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
local function field(flat, name)
  for i = 1, #flat, 2 do
    if flat[i] == name then return flat[i + 1] end
  end
end
local function at_or_after(a, b)
  local am, aseq = string.match(a, '(%d+)-(%d+)')
  local bm, bseq = string.match(b, '(%d+)-(%d+)')
  am, aseq, bm, bseq = tonumber(am), tonumber(aseq), tonumber(bm), tonumber(bseq)
  return am > bm or (am == bm and aseq >= bseq)
end
local last = field(redis.call('XINFO', 'STREAM', KEYS[1]), 'last-generated-id')
local groups = {}
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  groups[field(g, 'name')] = g
end
for _, name in ipairs(ARGV) do
  local g = groups[name]
  if not g or field(g, 'pending') > 0 or not at_or_after(field(g, 'last-delivered-id'), last) then
    return 0
  end
end
redis.call('DEL', KEYS[1])
return 1
"""


@dataclass
class _Cursor:
    # "0": walk our own unacknowledged entries (from before a restart, or held back after a
    # failure) from the start, then read new ones (">").
    after: str = "0"
    retry_at: float = math.inf


class StoredStreamReader:
    """The entries one engine shard must process, from its own and from foreign streams."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str,
        shard_index: int,
        shard_count: int,
        consumer: str,
        clock: Callable[[], float] = time.monotonic,
        foreign_check_s: float = FOREIGN_CHECK_S,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.shard_index = shard_index
        self.shard_count = shard_count
        self.consumer = consumer
        self.clock = clock
        self.foreign_check_s = foreign_check_s
        self.own = keys.stored_stream(prefix, shard_index, shard_count)
        self.group = keys.stored_stream_group(shard_index, shard_count)
        self._cursors: dict[str, _Cursor] = {}
        self._checked_at = -math.inf
        self._retire = client.register_script(_RETIRE)

    @classmethod
    def for_settings(cls, client: redis.Redis, settings: Settings) -> StoredStreamReader:
        """The reader of the shard these settings name."""
        return cls(
            client,
            prefix=settings.redis_prefix,
            shard_index=settings.alerting_shard_index,
            shard_count=settings.alerting_shard_count,
            consumer=settings.alerting_consumer_name,
        )

    def join(self) -> None:
        """Create our group on our stream if needed, from its start: entries ingest wrote
        before any engine of this shard count ran are ours too."""
        self._join(self.own, create_stream=True)

    def read(self, block_ms: int = 1000) -> tuple[str, list[Entry]]:
        """The next entries to process and their stream: our own stream's first (a fresh SOS
        never waits behind a backlog of old ones), then foreign ones; when none has any, wait
        on our own stream up to block_ms."""
        if self.clock() - self._checked_at >= self.foreign_check_s:
            self._checked_at = self.clock()
            self._tend_foreign()
        entries = self._read(self.own, block_ms=None)
        if entries:
            return self.own, entries
        for stream in self.foreign_streams():
            entries = self._read(stream, block_ms=None)
            if entries:
                return stream, entries
        return self.own, self._read(self.own, block_ms=block_ms)

    def settle(self, stream: str, entries: list[Entry], held: Iterable[Any] = ()) -> None:
        """Acknowledge the entries handled; those `held` (ids) are read again in STREAM_RETRY_S."""
        held = set(held)
        done = [entry_id for entry_id, _ in entries if entry_id not in held]
        if done:
            self.client.xack(stream, self.group, *done)
        cursor = self._cursors.get(stream)
        if held and cursor is not None:
            cursor.retry_at = min(cursor.retry_at, self.clock() + STREAM_RETRY_S)

    def foreign_streams(self) -> list[str]:
        """The streams of other shard counts this reader is draining."""
        return [s for s in self._cursors if s != self.own]

    # --- internals ----------------------------------------------------------------------

    def _read(self, stream: str, *, block_ms: int | None) -> list[Entry]:
        cursor = self._cursors[stream]
        if self.clock() >= cursor.retry_at:
            cursor.after, cursor.retry_at = "0", math.inf
        try:
            reply: Any = self.client.xreadgroup(
                self.group, self.consumer, {stream: cursor.after}, count=200, block=block_ms
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Deleted: a foreign stream every shard had drained, or a Redis that lost its data.
            del self._cursors[stream]
            if stream == self.own:
                self.join()
            return []
        entries: list[Entry] = reply[0][1] if reply else []
        if cursor.after != ">":
            cursor.after = entries[-1][0] if entries else ">"
        return entries

    def _join(self, stream: str, *, create_stream: bool) -> bool:
        """Make sure our group exists on the stream; False if the stream does not exist."""
        try:
            self.client.xgroup_create(stream, self.group, id="0", mkstream=create_stream)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                if create_stream:
                    raise
                return False  # no such stream: nothing left to drain
        self._cursors.setdefault(stream, _Cursor())
        return True

    def _tend_foreign(self) -> None:
        """Start draining streams of other shard counts; delete those every shard has read."""
        layouts = {int(m) for m in self.client.smembers(keys.stored_layouts(self.prefix))}
        streams = [keys.legacy_stored_stream(self.prefix)] + [
            keys.stored_stream(self.prefix, j, m)
            for m in sorted(layouts - {self.shard_count})
            for j in range(m)
        ]
        groups = [keys.stored_stream_group(i, self.shard_count) for i in range(self.shard_count)]
        for stream in streams:
            if stream not in self._cursors and not self._join(stream, create_stream=False):
                continue
            cursor = self._cursors[stream]
            idle = cursor.after == ">" and cursor.retry_at == math.inf
            if idle and self._retire(keys=[stream], args=groups):
                del self._cursors[stream]
