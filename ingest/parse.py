"""Turn one MQTT message into rows to store and rejects to dead-letter.

Validation is per item: one bad sample never costs its valid siblings. Reasons are the
contract's: malformed_json, schema, out_of_range, clock_skew, unknown_device, too_large.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec.structs import astuple

from ingest import contract as c

if TYPE_CHECKING:
    from eldercare.settings import Settings

_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "telemetry": msgspec.json.Decoder(c.TelemetryEnvelope),
    "location": msgspec.json.Decoder(c.LocationEnvelope),
    "event": msgspec.json.Decoder(c.Event),
    "status": msgspec.json.Decoder(c.Status),
}
_FAST: dict[str, msgspec.json.Decoder[Any]] = {
    "telemetry": msgspec.json.Decoder(c.TelemetryFast),
    "location": msgspec.json.Decoder(c.LocationFast),
}
_SAMPLE = msgspec.json.Decoder(c.LenientSample)
_FIX = msgspec.json.Decoder(c.LenientFix)
NOT_INTEGRAL = object()


def integral(value: Any) -> Any:
    """An int for an int or an integral float (72.0), None for None, else NOT_INTEGRAL."""
    if value is None or type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return NOT_INTEGRAL


@dataclass(frozen=True)
class Limits:
    """How far a sample's time may lie from the server clock."""

    max_age_ms: int = 7 * 24 * 3600 * 1000
    max_skew_ms: int = 5 * 60 * 1000


def limits_from(settings: Settings) -> Limits:
    """The limits the settings configure."""
    return Limits(
        max_age_ms=settings.ingest_max_sample_age_s * 1000,
        max_skew_ms=settings.ingest_max_clock_skew_s * 1000,
    )


@dataclass(frozen=True)
class Reject:
    reason: str
    detail: str
    payload: bytes
    index: int = -1  # item index within the message; -1 for the whole message


@dataclass
class ParsedMessage:
    topic: str
    payload: bytes
    device_id: str | None
    kind: str | None
    received_ms: int
    sent_at_ms: int | None = None
    samples: list[tuple] = field(default_factory=list)  # t_ms, hr, sbp, dbp, steps, worn, temp_c
    fixes: list[tuple] = field(default_factory=list)  # t_ms, lat, lon, acc_m, src, crs
    events: list[tuple] = field(
        default_factory=list
    )  # id, t_ms, type, service, lat, lon, acc_m, crs
    status: tuple | None = None  # sent_ms, online, battery, charging, rssi, fw
    rejects: list[Reject] = field(default_factory=list)

    @property
    def urgent(self) -> bool:
        """An sos or fall: flush at once, acknowledge to the band after commit."""
        return any(event[2] in c.URGENT_EVENT_TYPES for event in self.events)

    def reject_all(self, reason: str, detail: str, payload: bytes) -> ParsedMessage:
        self.rejects.append(Reject(reason, detail, payload))
        return self

    @property
    def row_count(self) -> int:
        return len(self.samples) + len(self.fixes) + len(self.events) + (self.status is not None)


def split_topic(topic: str) -> tuple[str | None, str | None]:
    """(device_id, kind) from eldercare/v1/{device_id}/{kind}, or Nones."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "eldercare" or parts[1] != "v1":
        return None, None
    return parts[2], parts[3]


def parse_message(
    topic: str, payload: bytes | bytearray, *, received_ms: int, limits: Limits = Limits()
) -> ParsedMessage:
    """Validate a message against the contract; never raises on bad input."""
    device_id, kind = split_topic(topic)
    payload = bytes(payload)  # no copy for bytes; paho may hand over a bytearray
    msg = ParsedMessage(
        topic=topic, payload=payload, device_id=device_id, kind=kind, received_ms=received_ms
    )
    if kind not in _DECODERS:
        return msg.reject_all("schema", f"unexpected topic {topic[:200]!r}", payload)
    if device_id is None or len(device_id) != 15 or not device_id.isdigit():
        return msg.reject_all("unknown_device", "topic device_id is not an IMEI", payload)
    if len(payload) > c.MAX_PAYLOAD_BYTES:
        return msg.reject_all("too_large", f"{len(payload)} bytes > {c.MAX_PAYLOAD_BYTES}", payload)
    fast = _FAST.get(kind)
    if fast is not None:
        try:
            envelope = fast.decode(payload)
        except msgspec.DecodeError:
            pass  # decode item by item below, to find which items are bad
        else:
            msg.sent_at_ms = envelope.sent_at
            _ITEM_CHECKERS[kind](msg, envelope, limits)
            if not msg.rejects:
                return msg
            # Rare: redo item by item so dead letters keep each item's raw bytes.
            msg.samples, msg.fixes, msg.rejects = [], [], []
    try:
        envelope = _DECODERS[kind].decode(payload)
    except msgspec.ValidationError as exc:
        return msg.reject_all("schema", str(exc), payload)
    except msgspec.DecodeError as exc:
        return msg.reject_all("malformed_json", str(exc), payload)
    sent_at = integral(getattr(envelope, "sent_at", None))
    if sent_at is NOT_INTEGRAL:
        return msg.reject_all("schema", "sent_at must be an integer", payload)
    msg.sent_at_ms = sent_at
    _ITEM_PARSERS[kind](msg, envelope, limits)
    return msg


def _time_reject(t_ms: int, received_ms: int, limits: Limits) -> tuple[str, str] | None:
    if t_ms > received_ms + limits.max_skew_ms:
        return "clock_skew", f"t is {(t_ms - received_ms) / 1000:.0f} s ahead of the server"
    if t_ms < received_ms - limits.max_age_ms:
        return "out_of_range", "t is older than the accepted upload window"
    return None


def _range_reject(name: str, value: int | None, bounds: tuple[int, int]) -> str | None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        return f"{name}={value} outside {bounds[0]}..{bounds[1]}"
    return None


def _sample_reject(s: c.Sample | c.InRangeSample) -> tuple[str, str] | None:
    hr, sbp, dbp, steps, temp_c = s.hr, s.sbp, s.dbp, s.steps, s.temp_c
    metrics = (hr, sbp, dbp, steps, s.worn, temp_c)
    if all(m is None for m in metrics):
        return "schema", "sample has no metric"
    if (sbp is None) != (dbp is None):
        return "schema", "sbp and dbp come together"
    if hr is not None and not c.HR_RANGE[0] <= hr <= c.HR_RANGE[1]:
        return "out_of_range", f"hr={hr} outside {c.HR_RANGE[0]}..{c.HR_RANGE[1]}"
    if sbp is not None:
        if problem := _range_reject("sbp", sbp, c.SBP_RANGE) or _range_reject(
            "dbp", dbp, c.DBP_RANGE
        ):
            return "out_of_range", problem
        if sbp <= dbp:  # type: ignore[operator]
            return "out_of_range", f"sbp={sbp} not above dbp={dbp}"
    if steps is not None and not c.STEPS_RANGE[0] <= steps <= c.STEPS_RANGE[1]:
        return "out_of_range", f"steps={steps} outside {c.STEPS_RANGE[0]}..{c.STEPS_RANGE[1]}"
    if temp_c is not None and not c.TEMP_C_RANGE[0] <= temp_c <= c.TEMP_C_RANGE[1]:
        return "out_of_range", f"temp_c={temp_c} outside {c.TEMP_C_RANGE[0]}..{c.TEMP_C_RANGE[1]}"
    return None


def _parse_samples(msg: ParsedMessage, envelope: c.TelemetryEnvelope, limits: Limits) -> None:
    for index, raw in enumerate(envelope.samples):
        try:
            lenient = _SAMPLE.decode(raw)
        except msgspec.ValidationError as exc:
            msg.rejects.append(Reject("schema", f"samples[{index}]: {exc}", bytes(raw), index))
            continue
        values = [integral(getattr(lenient, f)) for f in ("t", "hr", "sbp", "dbp", "steps")]
        if NOT_INTEGRAL in values:
            detail = f"samples[{index}]: t, hr, sbp, dbp and steps are integers"
            msg.rejects.append(Reject("schema", detail, bytes(raw), index))
            continue
        t, hr, sbp, dbp, steps = values
        sample = c.Sample(
            t=t, hr=hr, sbp=sbp, dbp=dbp, steps=steps, worn=lenient.worn, temp_c=lenient.temp_c
        )
        _check_sample(msg, index, sample, raw, limits)


def _check_samples(msg: ParsedMessage, envelope: c.TelemetryFast, limits: Limits) -> None:
    """The checks the decoder did not make (it checked the ranges); any doubt: the full check."""
    earliest = msg.received_ms - limits.max_age_ms
    latest = msg.received_ms + limits.max_skew_ms
    for index, s in enumerate(envelope.samples):
        if earliest <= s.t <= latest and _consistent(s):
            msg.samples.append(astuple(s))
        else:
            _check_sample(msg, index, s, None, limits)


def _consistent(s: c.InRangeSample) -> bool:
    """Has a metric, and a blood pressure is a pair with sbp above dbp."""
    sbp, dbp = s.sbp, s.dbp
    if sbp is None or dbp is None:
        measured = s.hr is not None or s.steps is not None or s.worn is not None
        return sbp is None and dbp is None and (measured or s.temp_c is not None)
    return sbp > dbp


def _check_sample(
    msg: ParsedMessage,
    index: int,
    s: c.Sample | c.InRangeSample,
    raw: msgspec.Raw | None,
    limits: Limits,
) -> None:
    problem = _sample_reject(s) or _time_reject(s.t, msg.received_ms, limits)
    if problem:
        payload = bytes(raw) if raw is not None else b""
        msg.rejects.append(Reject(problem[0], f"samples[{index}]: {problem[1]}", payload, index))
        return
    msg.samples.append((s.t, s.hr, s.sbp, s.dbp, s.steps, s.worn, s.temp_c))


def position_problem(lat: float, lon: float, acc: float) -> str | None:
    """Why a position cannot be stored, or None."""
    if not (math.isfinite(lat) and math.isfinite(lon) and math.isfinite(acc)):
        return "position is not finite"
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return f"lat/lon outside -90..90/-180..180: {lat}, {lon}"
    if lat == 0 and lon == 0:
        return "position is exactly 0,0 (no fix)"
    if acc <= 0:
        return f"acc={acc} must be > 0"
    return None


def _parse_fixes(msg: ParsedMessage, envelope: c.LocationEnvelope, limits: Limits) -> None:
    for index, raw in enumerate(envelope.fixes):
        try:
            fix = _FIX.decode(raw)
        except msgspec.ValidationError as exc:
            msg.rejects.append(Reject("schema", f"fixes[{index}]: {exc}", bytes(raw), index))
            continue
        t = integral(fix.t)
        if t is NOT_INTEGRAL:
            detail = f"fixes[{index}]: t is an integer"
            msg.rejects.append(Reject("schema", detail, bytes(raw), index))
            continue
        fix.t = t
        _check_fix(msg, index, fix, raw, limits)


def _check_fixes(msg: ParsedMessage, envelope: c.LocationFast, limits: Limits) -> None:
    for index, fix in enumerate(envelope.fixes):
        _check_fix(msg, index, fix, None, limits)


def _check_fix(
    msg: ParsedMessage, index: int, f: c.Fix, raw: msgspec.Raw | None, limits: Limits
) -> None:
    problem = _time_reject(f.t, msg.received_ms, limits)
    if problem is None and (detail := position_problem(f.lat, f.lon, f.acc)):
        problem = ("out_of_range", detail)
    if problem:
        payload = bytes(raw) if raw is not None else b""
        msg.rejects.append(Reject(problem[0], f"fixes[{index}]: {problem[1]}", payload, index))
        return
    msg.fixes.append((f.t, f.lat, f.lon, f.acc, f.src, f.crs))


def _parse_event(msg: ParsedMessage, event: c.Event, limits: Limits) -> None:
    raw = msg.payload
    t_ms, sent_ms = integral(event.t), integral(event.sent_at)
    if t_ms is NOT_INTEGRAL or sent_ms is NOT_INTEGRAL:
        msg.reject_all("schema", "t and sent_at are integers", raw)
        return
    if event.type == "service_request" and event.service is None:
        msg.reject_all("schema", "service_request needs a service", raw)
        return
    service = event.service if event.type == "service_request" else None
    problem = _time_reject(t_ms, msg.received_ms, limits)
    if problem:
        if event.type not in c.URGENT_EVENT_TYPES:
            msg.rejects.append(Reject(*problem, raw, 0))
            return
        t_ms = _recover_urgent_time(t_ms, sent_ms, msg.received_ms)
        if _time_reject(t_ms, msg.received_ms, limits):
            msg.rejects.append(Reject("out_of_range", "event is older than 7 days", raw, 0))
            return
        # An SOS or fall is never dropped for a wrong band clock; record what was wrong.
        msg.rejects.append(Reject(problem[0], f"{problem[1]}; stored at recovered time", raw, 0))
    lat, lon, acc, crs = _event_position(msg, event, raw)
    msg.events.append((event.id, t_ms, event.type, service, lat, lon, acc, crs))


def _recover_urgent_time(t_ms: int, sent_ms: int, received_ms: int) -> int:
    """When the event happened by the band's own clock, moved onto the server's clock."""
    return received_ms - max(0, sent_ms - t_ms)


def _event_position(msg: ParsedMessage, event: c.Event, raw: bytes) -> tuple[Any, ...]:
    no_position = (None, None, None, "wgs84")
    if event.lat is None and event.lon is None:
        if event.acc is not None or event.crs is not None:
            msg.rejects.append(Reject("schema", "event position: acc/crs without lat/lon", raw, 1))
        return no_position
    numbers = (event.lat, event.lon, event.acc if event.acc is not None else 1.0)
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
        msg.rejects.append(Reject("schema", "event position: lat and lon are numbers", raw, 1))
        return no_position
    crs = event.crs if event.crs is not None else "wgs84"
    if crs not in ("wgs84", "gcj02"):
        msg.rejects.append(Reject("schema", "event position: crs must be wgs84 or gcj02", raw, 1))
        return no_position
    lat, lon, acc = (float(n) for n in numbers)
    problem = position_problem(lat, lon, acc)
    if problem:
        msg.rejects.append(Reject("out_of_range", f"event position: {problem}", raw, 1))
        return no_position
    return lat, lon, (acc if event.acc is not None else None), crs


def _parse_status(msg: ParsedMessage, status: c.Status, limits: Limits) -> None:
    raw = msg.payload
    values = [integral(v) for v in (status.sent_at, status.battery, status.rssi)]
    if NOT_INTEGRAL in values:
        msg.reject_all("schema", "sent_at, battery and rssi are integers", raw)
        return
    sent_ms, battery, rssi = values
    if status.online and (sent_ms is None or battery is None):
        msg.reject_all("schema", "an online heartbeat carries sent_at and battery", raw)
        return
    if sent_ms is None:  # the Last Will: the broker publishes it, with no time of its own
        sent_ms = msg.received_ms
    problem = _time_reject(sent_ms, msg.received_ms, limits)
    if problem is None:
        for name, value, bounds in (
            ("battery", battery, c.BATTERY_RANGE),
            ("rssi", rssi, c.RSSI_RANGE),
        ):
            if detail := _range_reject(name, value, bounds):
                problem = ("out_of_range", detail)
                break
    if problem:
        msg.rejects.append(Reject(*problem, raw, 0))
        return
    msg.status = (sent_ms, status.online, battery, status.charging, rssi, status.fw)


_ITEM_CHECKERS: dict[str, Callable[[ParsedMessage, Any, Limits], None]] = {
    "telemetry": _check_samples,
    "location": _check_fixes,
}

_ITEM_PARSERS: dict[str, Callable[[ParsedMessage, Any, Limits], None]] = {
    "telemetry": _parse_samples,
    "location": _parse_fixes,
    "event": _parse_event,
    "status": _parse_status,
}
