"""The firmware contract v1 as decoding types and limits (see firmware-contracts/)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_ITEMS = 500
URGENT_EVENT_TYPES = frozenset({"sos", "fall"})

# Valid ranges: a value outside is `out_of_range`, a value of the wrong type is `schema`.
HR_RANGE = (25, 250)
SBP_RANGE = (60, 260)
DBP_RANGE = (30, 160)
STEPS_RANGE = (0, 100_000)
TEMP_C_RANGE = (30.0, 45.0)
BATTERY_RANGE = (0, 100)
RSSI_RANGE = (-150, 0)

NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"  # PostgreSQL text cannot hold NUL at all

Items = Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1, max_length=MAX_ITEMS)]
EventType = Literal[
    "sos",
    "fall",
    "wear_off",
    "wear_on",
    "power_on",
    "power_off",
    "low_battery",
    "service_request",
]
ServiceKind = Literal["meal", "haircut", "housekeeping", "escort"]
# JSON Schema counts 72.0 as an integer; the per-item path accepts it (see parse.integral).
Num = int | float


class TelemetryEnvelope(msgspec.Struct):
    v: Literal[1]
    sent_at: Num
    samples: Items


class LocationEnvelope(msgspec.Struct):
    v: Literal[1]
    sent_at: Num
    fixes: Items


class Sample(msgspec.Struct):
    t: int
    hr: int | None = None
    sbp: int | None = None
    dbp: int | None = None
    steps: int | None = None
    worn: bool | None = None
    temp_c: float | None = None


class LenientSample(msgspec.Struct):
    t: Num
    hr: Num | None = None
    sbp: Num | None = None
    dbp: Num | None = None
    steps: Num | None = None
    worn: bool | None = None
    temp_c: Num | None = None


class Fix(msgspec.Struct):
    t: int
    lat: float
    lon: float
    acc: float
    src: Literal["gnss", "wifi", "cell"]
    crs: Literal["wgs84", "gcj02"] = "wgs84"


class LenientFix(Fix):
    t: Num  # type: ignore[assignment]


class Event(msgspec.Struct):
    v: Literal[1]
    sent_at: Num
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)]
    t: Num
    type: EventType
    service: ServiceKind | None = None  # ignored unless type is service_request
    # The position is checked on its own: a bad position must never cost us an event.
    lat: Any = None
    lon: Any = None
    acc: Any = None
    crs: Any = None


class Status(msgspec.Struct):
    v: Literal[1]
    online: bool
    sent_at: Num | None = None  # required when online; the Last Will has none
    battery: Num | None = None  # required when online
    charging: bool | None = None
    rssi: Num | None = None
    fw: Annotated[str, msgspec.Meta(max_length=64, pattern=NO_CONTROL_CHARS)] | None = None


def _within(bounds: tuple[Any, Any]) -> msgspec.Meta:
    return msgspec.Meta(ge=bounds[0], le=bounds[1])


class InRangeSample(msgspec.Struct):
    """A sample whose values msgspec checks against the ranges while decoding (in C).

    Fields in the order ingest stores them, so `msgspec.structs.astuple` gives the row.
    """

    t: int
    hr: Annotated[int, _within(HR_RANGE)] | None = None
    sbp: Annotated[int, _within(SBP_RANGE)] | None = None
    dbp: Annotated[int, _within(DBP_RANGE)] | None = None
    steps: Annotated[int, _within(STEPS_RANGE)] | None = None
    worn: bool | None = None
    temp_c: Annotated[float, _within(TEMP_C_RANGE)] | None = None


class TelemetryFast(msgspec.Struct):
    """One-decode shape for the common case: every sample well typed and in range."""

    v: Literal[1]
    sent_at: int
    samples: Annotated[list[InRangeSample], msgspec.Meta(min_length=1, max_length=MAX_ITEMS)]


class LocationFast(msgspec.Struct):
    v: Literal[1]
    sent_at: int
    fixes: Annotated[list[Fix], msgspec.Meta(min_length=1, max_length=MAX_ITEMS)]
