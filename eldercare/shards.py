"""Which engine shard owns a band, and which Redis hash-tag group its state lives in.

Ingest and alerting both import this, so a band's stream entries go to the stream its
engine reads. crc32 because it is stable across processes and Python versions (hash() is
salted per process).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

# Band-state hashes are spread over this many Redis Cluster hash tags. Fixed, not the shard
# count: changing the number of engines must not move every band's key (the API would show
# nothing until each band reported again), and one shard must not put every band on one node.
BAND_GROUPS = 64


def shard_of(device_id: str, shard_count: int) -> int:
    """The engine shard that owns a band."""
    return zlib.crc32(device_id.encode()) % max(shard_count, 1)


def band_group(device_id: str) -> int:
    """The hash-tag group of a band's state key (see BAND_GROUPS)."""
    return shard_of(device_id, BAND_GROUPS)


def split_by_shard(device_ids: Iterable[str], shard_count: int) -> dict[int, list[str]]:
    """The given bands per owning shard, in their original order; shards without any left out."""
    out: dict[int, list[str]] = {}
    for device_id in device_ids:
        out.setdefault(shard_of(device_id, shard_count), []).append(device_id)
    return out
