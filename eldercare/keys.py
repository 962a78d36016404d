"""The Redis key and stream names the processes share, built in one place.

Ingest writes a band's latest state (`{prefix}band:{device_id}`, a hash) and announces each
commit on `{prefix}stream:stored`; alerting reads that stream, wakes its outbox lanes through
`{prefix}outbox:wake:{lane}` and publishes alert changes on `{prefix}alerts:changes` (and the
duty console's on `{prefix}alerts:console`); the API reads the band hashes and the changes.
`prefix` is the deployment's `redis_prefix` (it ends with `:`).
"""

from __future__ import annotations

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
    return f"{prefix}band:{device_id}"


def stored_stream(prefix: str) -> str:
    """The stream on which ingest announces each committed batch (alerting reads it)."""
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
