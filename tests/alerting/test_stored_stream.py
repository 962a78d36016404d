"""The shard stream reader: fresh entries before an old shard count's backlog; that backlog
deleted only once every shard of the new count has read it."""

from __future__ import annotations

import time
import uuid

from alerting.stored_stream import StoredStreamReader
from eldercare import keys
from eldercare.imei import make_imei
from eldercare.shards import shard_of
from ingest.hot_state import HotState
from ingest.parse import ParsedMessage
from ingest.store import StoreResult
from tests.support.wait import wait_until


def sos_batch(band: str, t_ms: int) -> tuple[list[ParsedMessage], StoreResult]:
    message = ParsedMessage(
        topic=f"eldercare/v1/{band}/event", payload=b"", device_id=band, kind="event",
        received_ms=t_ms,
    )  # fmt: skip
    event = {"device_id": band, "event_id": f"sos-{t_ms}", "type": "sos", "t_ms": t_ms}
    return [message], StoreResult(new_events=[event])


def reader(client, prefix: str, index: int, count: int) -> StoredStreamReader:
    shard = StoredStreamReader(
        client, prefix=prefix, shard_index=index, shard_count=count, consumer="c",
        foreign_check_s=0.0,
    )  # fmt: skip
    shard.join()
    return shard


def drain(shard: StoredStreamReader) -> int:
    """Read and acknowledge until nothing is left; return how many entries came."""
    total = 0
    while True:
        stream, entries = shard.read(block_ms=10)
        if not entries:
            return total
        total += len(entries)
        shard.settle(stream, entries)


def test_a_fresh_sos_is_read_before_an_old_shard_counts_backlog_which_every_shard_drains(
    redis_client,
):
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    bands = [make_imei(950_000 + i) for i in range(450)]
    old = HotState(redis_client, prefix, shard_count=1)
    now = int(time.time() * 1000)
    for i, band in enumerate(bands):  # a backlog nobody read before the count became 2
        old.publish(*sos_batch(band, now + i), committed_ms=now)
    fresh = bands[0]
    mine = shard_of(fresh, 2)
    HotState(redis_client, prefix, shard_count=2).publish(
        *sos_batch(fresh, now + 1000), committed_ms=now
    )
    shard = reader(redis_client, prefix, mine, 2)

    stream, entries = shard.read(block_ms=10)
    assert stream == shard.own and len(entries) == 1  # not the 450 old ones first
    shard.settle(stream, entries)
    assert drain(shard) == 450  # then the whole backlog (the engine keeps its own bands)
    old_stream = keys.stored_stream(prefix, 0, 1)
    assert redis_client.exists(old_stream)  # the other shard has not read it yet
    other = reader(redis_client, prefix, 1 - mine, 2)
    wait_until(
        lambda: drain(other) >= 0 and drain(shard) >= 0 and not redis_client.exists(old_stream)
    )
