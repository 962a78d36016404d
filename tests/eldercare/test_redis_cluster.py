"""Ingest's hot state and the engines' per-shard stored streams on a real 3-node Redis Cluster."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest
import redis

from alerting.stored_stream import StoredStreamReader
from eldercare import keys
from eldercare.imei import make_imei
from eldercare.redis_client import connect_redis
from eldercare.settings import Settings
from eldercare.shards import shard_of
from ingest.hot_state import HotState
from ingest.parse import ParsedMessage
from ingest.store import StoreResult
from tests.support.wait import wait_until

BANDS = [make_imei(900_000 + i) for i in range(40)]


@pytest.fixture
def cluster(redis_cluster_url: str) -> redis.Redis:
    return connect_redis(Settings(redis_url=redis_cluster_url, redis_cluster=True))


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:8]}:"


def batch(bands: list[str], t_ms: int, hr: int) -> tuple[list[ParsedMessage], StoreResult]:
    """One committed batch: a sample and a fix per band, and an SOS from the first band."""
    messages = [
        ParsedMessage(
            topic=f"eldercare/v1/{band}/telemetry",
            payload=b"",
            device_id=band,
            kind="telemetry",
            received_ms=t_ms,
            samples=[(t_ms, hr, 120, 80, 10, True, None)],
            fixes=[(t_ms, 41.1, 122.9, 8.0, "gnss", "wgs84")],
        )
        for band in bands
    ]
    event = {"device_id": bands[0], "event_id": f"sos-{t_ms}", "type": "sos", "t_ms": t_ms}
    result = StoreResult(
        devices_with_new_rows={"telemetry": set(bands), "location": set(bands)},
        new_events=[event],
    )
    return messages, result


def entries_of(client: redis.Redis, stream: str) -> list[dict]:
    return [orjson.loads(fields[b"batch"]) for _, fields in client.xrange(stream)]


def test_ingest_writes_band_state_and_one_stream_per_shard_on_a_cluster(cluster, prefix):
    hot = HotState(cluster, prefix, shard_count=3)
    now = int(time.time() * 1000)
    hot.publish(*batch(BANDS, now, hr=91), committed_ms=now)
    hot.publish(*batch(BANDS, now - 60_000, hr=55), committed_ms=now)  # a late upload

    for band in BANDS:
        state = cluster.hgetall(keys.band_state(prefix, band))
        assert state[b"hr"] == b"91" and state[b"lat"] == b"41.1"  # not overwritten by the late one
    nodes = {cluster.get_node_from_key(keys.band_state(prefix, b)).name for b in BANDS}
    assert len(nodes) == 3  # band state is spread over the cluster, not on one node
    for shard in range(3):
        mine = sorted(b for b in BANDS if shard_of(b, 3) == shard)
        entries = entries_of(cluster, keys.stored_stream(prefix, shard, 3))
        assert [e["telemetry"] for e in entries] == [mine, mine]
        assert all(shard_of(e["device_id"], 3) == shard for x in entries for e in x["events"])
    sos_shard = shard_of(BANDS[0], 3)
    assert entries_of(cluster, keys.stored_stream(prefix, sos_shard, 3))[0]["events"]


def reader(client: redis.Redis, prefix: str, index: int, count: int) -> StoredStreamReader:
    shard = StoredStreamReader(
        client,
        prefix=prefix,
        shard_index=index,
        shard_count=count,
        consumer=f"engine-{index}",
        foreign_check_s=0.1,
    )
    shard.join()
    return shard


def read_owned(shard: StoredStreamReader, seen: set[str], own_stream_bands: set[str]) -> None:
    """One read as the engine does it: keep the bands this shard owns, acknowledge."""
    stream, entries = shard.read(block_ms=50)
    for _, fields in entries:
        named = orjson.loads(fields[b"batch"])["telemetry"]
        if stream == shard.own:
            own_stream_bands.update(named)
        seen.update(b for b in named if shard_of(b, shard.shard_count) == shard.shard_index)
    shard.settle(stream, entries)


def test_each_shard_reads_only_its_stream_and_a_new_shard_count_loses_no_entry(cluster, prefix):
    old_hot, new_hot = HotState(cluster, prefix, 2), HotState(cluster, prefix, 3)
    now = int(time.time() * 1000)
    first, second = BANDS[:20], BANDS[20:]
    # Written with 2 shards; shard 0 of 2 read its part, shard 1 of 2 never ran.
    old_hot.publish(*batch(first, now, hr=80), committed_ms=now)
    old_shard = reader(cluster, prefix, 0, 2)
    while entries := old_shard.read(block_ms=50)[1]:
        old_shard.settle(old_shard.own, entries)
    # The count becomes 3: ingest writes the new streams, three engines read.
    new_hot.publish(*batch(second, now + 1, hr=81), committed_ms=now + 1)
    shards = [reader(cluster, prefix, i, 3) for i in range(3)]
    seen: list[set[str]] = [set(), set(), set()]
    own: list[set[str]] = [set(), set(), set()]
    old_streams = [keys.stored_stream(prefix, j, 2) for j in range(2)]

    def drained() -> bool:
        for i, shard in enumerate(shards):
            read_owned(shard, seen[i], own[i])
        return set().union(*seen) == set(BANDS) and not any(cluster.exists(s) for s in old_streams)

    wait_until(drained, timeout_s=20, interval_s=0.01)
    for i in range(3):
        assert seen[i] == {b for b in BANDS if shard_of(b, 3) == i}
        assert own[i] == {b for b in second if shard_of(b, 3) == i}  # its own stream: its bands


def test_band_state_keeps_updating_after_cluster_nodes_lose_the_lua_script(cluster, prefix):
    hot = HotState(cluster, prefix, shard_count=3)
    now = int(time.time() * 1000)
    hot.publish(*batch(BANDS, now, hr=70), committed_ms=now)
    cluster.script_flush()  # what a restarted or failed-over node holds: no scripts
    hot.publish(*batch(BANDS, now + 1000, hr=71), committed_ms=now + 1000)
    assert {cluster.hget(keys.band_state(prefix, b), "hr") for b in BANDS} == {b"71"}
