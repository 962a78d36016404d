"""Decoded watch messages as firmware-contract v1 payloads (pure: no I/O, no clock).

The watch's clock reads local time or UTC depending on its firmware; `offset_s` is what
it reads ahead of UTC. Readings that carry no time of their own (heartbeats, vitals) are
stamped with `received_ms`, which the caller keeps distinct per band.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC

from gateway.messages import (
    BloodPressure,
    BodyTemperature,
    HeartRate,
    Link,
    Message,
    Position,
)

DEFAULT_GNSS_ACC_M = 15.0  # what a watch's GNSS fix is good for when it does not say


@dataclass(frozen=True, slots=True)
class Uplink:
    """One contract message for the band's `kind` topic."""

    kind: str  # telemetry, location, event, status
    payload: dict

    @property
    def urgent(self) -> bool:
        return self.kind == "event" and self.payload["type"] in ("sos", "fall")


@dataclass(frozen=True, slots=True)
class Place:
    """A position resolved from cell towers (or GNSS), WGS-84."""

    lat: float
    lon: float
    acc_m: float
    src: str  # gnss, wifi, cell


def to_uplinks(
    message: Message,
    *,
    content: bytes,
    imei: str,
    offset_s: int,
    received_ms: int,
    resolved: Place | None = None,
) -> list[Uplink]:
    """The contract messages that carry what `message` says (possibly none)."""
    if isinstance(message, Position):
        return _position(message, content, imei, offset_s, resolved)
    sample: dict = {"t": received_ms}
    if isinstance(message, Link):
        out = []
        if message.steps is not None:
            out.append(_telemetry({**sample, "steps": message.steps}, received_ms))
        if message.battery is not None:
            out.append(_status(received_ms, message.battery))
        return out
    if isinstance(message, HeartRate):
        sample["hr"] = message.hr
    elif isinstance(message, BloodPressure):
        sample.update(sbp=message.sbp, dbp=message.dbp)
        if message.hr:
            sample["hr"] = message.hr
    elif isinstance(message, BodyTemperature):
        sample["temp_c"] = message.celsius
    else:
        return []
    return [_telemetry(sample, received_ms)]


def merge(uplinks: list[Uplink]) -> list[Uplink]:
    """The same readings of one band in fewer messages: events each on their own and first,
    then one location message with every fix and one telemetry message with every sample,
    in the order given, then the latest status."""
    events, status = [u for u in uplinks if u.kind == "event"], None
    lists: dict[str, list[Uplink]] = {"location": [], "telemetry": []}
    for u in uplinks:
        if u.kind == "status":
            status = u
        elif u.kind in lists:
            lists[u.kind].append(u)
    out = events
    for kind, field in (("location", "fixes"), ("telemetry", "samples")):
        group = lists[kind]
        if len(group) == 1:
            out.append(group[0])
        elif group:
            items = [item for u in group for item in u.payload[field]]
            sent_at = max(u.payload["sent_at"] for u in group)
            out.append(Uplink(kind, {"v": 1, "sent_at": sent_at, field: items}))
    return out if status is None else [*out, status]


def watch_time_ms(position: Position, offset_s: int) -> int:
    """The report's time in ms since the epoch, UTC, from the watch's clock."""
    return int(position.time.replace(tzinfo=UTC).timestamp() - offset_s) * 1000


def event_id(kind: str, imei: str, content: bytes) -> str:
    """Stable per frame: a re-sent alarm (same content) is the same event."""
    digest = hashlib.blake2b(imei.encode() + b"\0" + content, digest_size=10).hexdigest()
    return f"w-{kind}-{digest}"


def _position(
    p: Position, content: bytes, imei: str, offset_s: int, resolved: Place | None
) -> list[Uplink]:
    t = watch_time_ms(p, offset_s)
    place = _gnss_place(p) or resolved
    out: list[Uplink] = []
    if place is not None:
        fix = {"t": t, "lat": place.lat, "lon": place.lon, "acc": place.acc_m, "src": place.src}
        out.append(Uplink("location", {"v": 1, "sent_at": t, "fixes": [fix]}))
    out.append(_telemetry({"t": t, "steps": p.steps, "worn": not p.wrist_off}, t))
    out.append(_status(t, p.battery))
    for kind in _event_kinds(p):
        event = {"v": 1, "sent_at": t, "id": event_id(kind, imei, content), "t": t, "type": kind}
        if place is not None:
            event.update(lat=place.lat, lon=place.lon, acc=place.acc_m)
        out.append(Uplink("event", event))
    return out


def _event_kinds(p: Position) -> list[str]:
    """SOS and fall from any report; the other alarms only from alarm reports, which
    the watch sends once per alarm (a position report repeats its state bits)."""
    kinds = [k for k, on in (("sos", p.sos), ("fall", p.fall)) if on]
    if p.alarm:
        flags = (("wear_off", p.wrist_off), ("low_battery", p.low_battery))
        kinds += [k for k, on in (*flags, ("power_off", p.power_off)) if on]
    return kinds


def _gnss_place(p: Position) -> Place | None:
    if not p.valid or not (math.isfinite(p.lat) and math.isfinite(p.lon)):
        return None
    if p.lat == 0 and p.lon == 0:
        return None
    given = p.accuracy_m
    acc = given if given and math.isfinite(given) and given > 0 else DEFAULT_GNSS_ACC_M
    return Place(p.lat, p.lon, acc, "gnss")


def _telemetry(sample: dict, sent_ms: int) -> Uplink:
    return Uplink("telemetry", {"v": 1, "sent_at": sent_ms, "samples": [sample]})


def _status(sent_ms: int, battery: int) -> Uplink:
    return Uplink("status", {"v": 1, "sent_at": sent_ms, "online": True, "battery": battery})
