"""What a simulated band publishes: topic, JSON payload and the moment it is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from eldercare import topics

UPLINK_KINDS = topics.UPLINK_KINDS
LAST_WILL = {"v": 1, "online": False}


@dataclass(frozen=True)
class SimMessage:
    """One MQTT publish by a band.

    `defect` is None for a message that follows the contract, else the dead-letter reason
    ingest must give it (set only on deliberately broken messages, e.g. by `malformed`).
    """

    device_id: str
    kind: str
    topic: str
    payload: bytes
    at: datetime
    defect: str | None = None


def topic_for(device_id: str, kind: str) -> str:
    """The topic a band uses for one message kind (or `cmd` for downlink)."""
    return topics.uplink(device_id, kind)


def epoch_ms(at: datetime) -> int:
    """Milliseconds since the Unix epoch of a timezone-aware datetime."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: the contract's clocks are UTC")
    return int(round(at.timestamp() * 1000))


def from_epoch_ms(ms: int) -> datetime:
    """The timezone-aware UTC datetime of an epoch-milliseconds value."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def make_message(
    device_id: str, kind: str, body: dict, at: datetime, defect: str | None = None
) -> SimMessage:
    """Serialise a message body as the band would send it."""
    return SimMessage(device_id, kind, topic_for(device_id, kind), orjson.dumps(body), at, defect)


def batch_body(kind: str, sent_at_ms: int, items: list[dict]) -> dict:
    """A telemetry or location message around its samples or fixes."""
    key = {"telemetry": "samples", "location": "fixes"}[kind]
    return {"v": 1, "sent_at": sent_at_ms, key: items}


def event_body(sent_at_ms: int, event: dict) -> dict:
    """An event message; `event` holds id, t, type and optional service/position."""
    return {"v": 1, "sent_at": sent_at_ms, **event}


def status_body(
    sent_at_ms: int, *, battery_pct: int, charging: bool, rssi_dbm: int, fw: str
) -> dict:
    """A heartbeat."""
    return {
        "v": 1,
        "sent_at": sent_at_ms,
        "online": True,
        "battery": battery_pct,
        "charging": charging,
        "rssi": rssi_dbm,
        "fw": fw,
    }
