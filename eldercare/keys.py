"""The Redis key and stream names the processes share, built in one place.

Ingest writes a band's latest state (`{prefix}band:{b<group>}:{device_id}`, a hash) and
announces each commit on the stored stream of each engine shard it touched
(`{prefix}stream:stored:{shard-<i>-of-<n>}`); alerting reads them, wakes its outbox lanes through
`{prefix}outbox:wake:{lane}` and publishes alert changes on `{prefix}alerts:changes` (and the
duty console's on `{prefix}alerts:console`); the API reads the band hashes and the changes.
`prefix` is the deployment's `redis_prefix` (it ends with `:`).

Redis Cluster: keys one Lua call touches together share a hash tag (the part in braces), so
they live in one slot: a band's state carries its group's tag (`eldercare.shards.band_group`),
a shard's stream its shard's.
"""

from __future__ import annotations

from eldercare.shards import band_group

# Fields of the band-state hash the API reads (bytes: what redis-py returns for them).
BAND_LOCATION_FIELDS = (
    b"fix_t",
    b"lat",
    b"lon",
    b"acc_m",
    b"src",
    b"online",
    b"battery",
    b"last_seen",
)
BAND_VITALS_FIELDS = (b"vitals_t", b"hr", b"sbp", b"dbp", b"steps", b"worn")


def band_state(prefix: str, device_id: str) -> str:
    """The hash of a band's latest vitals, fix and status (ingest writes, the API reads)."""
    return f"{prefix}band:{{b{band_group(device_id)}}}:{device_id}"


def stored_stream(prefix: str, shard_index: int, shard_count: int) -> str:
    """The stream on which ingest announces committed rows of one engine shard's bands."""
    return f"{prefix}stream:stored:{{shard-{shard_index}-of-{shard_count}}}"


def stored_stream_group(shard_index: int, shard_count: int) -> str:
    """The consumer group of one engine shard (its replicas share it) on any stored stream."""
    return f"alerting-shard-{shard_index}-of-{shard_count}"


def stored_layouts(prefix: str) -> str:
    """The set of shard counts ingest has written stored streams for (engines drain old ones)."""
    return f"{prefix}stream:stored:layouts"


def legacy_stored_stream(prefix: str) -> str:
    """The single stored stream of releases before per-shard streams (drained, then deleted)."""
    return f"{prefix}stream:stored"


def alert_changes(prefix: str) -> str:
    """The stream of alert changes the API's alert stream follows."""
    return f"{prefix}alerts:changes"


def alert_console(prefix: str) -> str:
    """The stream of messages for the duty console."""
    return f"{prefix}alerts:console"


def outbox_wake(prefix: str, lane: str) -> str:
    """The list whose push wakes the outbox dispatcher of one lane."""
    return f"{prefix}outbox:wake:{lane}"
