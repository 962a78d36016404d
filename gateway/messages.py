"""What a 4G watch says, decoded from a frame's content (pure: bytes in, dataclasses out).

Field layouts follow the "3G watch" (SeTracker) protocol as the common firmwares send it;
decode() raises DecodeError for content it cannot read, and never anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Status word of position and alarm reports: 32 bits in 8 hex digits. The low half is the
# watch's state, the high half the alarms; vendors agree on these bits.
STATUS_LOW_BATTERY = 1 << 0
STATUS_WRIST_OFF = 1 << 3
ALARM_SOS = 1 << 16
ALARM_LOW_BATTERY = 1 << 17
ALARM_WRIST_OFF = 1 << 20
ALARM_FALL = 1 << 21
ALARM_POWER_OFF = 1 << 22

POSITION_COMMANDS = frozenset({"UD", "UD2", "UD_LTE", "UD_WCDMA", "WT", "AL", "ALCUSTOMER1"})
ALARM_COMMANDS = frozenset({"AL", "ALCUSTOMER1"})
BINARY_COMMANDS = frozenset({"TK", "JXTK", "img", "IMG", "TK2"})
_POSITION_FIELDS = 16  # date .. status


class DecodeError(ValueError):
    """Content that does not read as the message its command names."""


@dataclass(frozen=True, slots=True)
class Link:
    """LK: heartbeat, with steps, rolls and battery on most firmwares."""

    steps: int | None = None
    rolls: int | None = None
    battery: int | None = None


@dataclass(frozen=True, slots=True)
class Init:
    """INIT: the watch's first words after boot (phone number, model, ...)."""

    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    """TKQ / TKQ2: the watch asks whether voice messages wait for it."""

    command: str


@dataclass(frozen=True, slots=True)
class Cell:
    mcc: int
    mnc: int
    lac: int
    cid: int
    signal: int


@dataclass(frozen=True, slots=True)
class WifiAp:
    mac: str
    signal: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class Position:
    """UD, UD2, UD_LTE, UD_WCDMA, WT, AL, ALCUSTOMER1: a report with the status word."""

    command: str
    time: datetime  # as the watch's clock says, without zone (see the per-band offset)
    valid: bool  # `A`: a GNSS fix; `V`: lat/lon are stale, cells and Wi-Fi may help
    lat: float
    lon: float
    speed_kmh: float
    course_deg: float
    altitude_m: float
    satellites: int
    signal: int  # 0..100
    battery: int  # percent
    steps: int
    rolls: int
    status: int
    cells: tuple[Cell, ...] = ()
    wifi: tuple[WifiAp, ...] = ()
    accuracy_m: float | None = None

    @property
    def alarm(self) -> bool:
        return self.command in ALARM_COMMANDS

    @property
    def sos(self) -> bool:
        return bool(self.status & ALARM_SOS)

    @property
    def fall(self) -> bool:
        return bool(self.status & ALARM_FALL)

    @property
    def wrist_off(self) -> bool:
        return bool(self.status & (STATUS_WRIST_OFF | ALARM_WRIST_OFF))

    @property
    def low_battery(self) -> bool:
        return bool(self.status & (STATUS_LOW_BATTERY | ALARM_LOW_BATTERY))

    @property
    def power_off(self) -> bool:
        return bool(self.status & ALARM_POWER_OFF)


@dataclass(frozen=True, slots=True)
class HeartRate:
    """heart / PULSE."""

    hr: int


@dataclass(frozen=True, slots=True)
class BloodPressure:
    """bphrt / BLOOD: systolic, diastolic and, on bphrt, the heart rate."""

    sbp: int
    dbp: int
    hr: int | None = None


@dataclass(frozen=True, slots=True)
class BodyTemperature:
    """btemp2: body temperature in degrees Celsius."""

    celsius: float


@dataclass(frozen=True, slots=True)
class Binary:
    """Voice (TK) or image content: acknowledged, not stored."""

    command: str
    size: int


@dataclass(frozen=True, slots=True)
class Other:
    """A well-framed message this gateway does not use (its replies to our commands...)."""

    command: str
    fields: tuple[str, ...] = field(default=())


Message = (
    Link | Init | Query | Position | HeartRate | BloodPressure | BodyTemperature | Binary | Other
)


def command_of(content: bytes) -> str:
    """The command word: content up to the first comma."""
    head = content.split(b",", 1)[0][:32]
    return head.decode("ascii", errors="replace")


def decode(content: bytes) -> Message:
    """Decode a frame's content; raise DecodeError if it does not read."""
    command = command_of(content)
    if command in BINARY_COMMANDS:
        return Binary(command, len(content))
    try:
        fields = content.decode("utf-8").split(",")[1:]
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{command}: not UTF-8 text") from exc
    try:
        return _decode_text(command, fields)
    except (ValueError, IndexError) as exc:
        raise DecodeError(f"{command}: {exc}") from exc


def _decode_text(command: str, fields: list[str]) -> Message:
    if command == "LK":
        numbers = [_int(f) for f in fields[:3]] + [None] * 3
        return Link(steps=numbers[0], rolls=numbers[1], battery=numbers[2])
    if command == "INIT":
        return Init(tuple(fields))
    if command in ("TKQ", "TKQ2"):
        return Query(command)
    if command in POSITION_COMMANDS:
        return _position(command, fields)
    if command in ("heart", "PULSE", "hrtstart"):
        return HeartRate(int(_last_number(fields)))
    if command in ("bphrt", "BLOOD"):
        values = [int(f) for f in fields[:3] if f.strip()]
        if len(values) < 2:
            raise ValueError("expected systolic and diastolic")
        return BloodPressure(values[0], values[1], values[2] if len(values) > 2 else None)
    if command == "btemp2":
        return BodyTemperature(_last_number(fields))
    return Other(command, tuple(fields))


def _int(text: str) -> int | None:
    return int(text) if text.strip() else None


def _last_number(fields: list[str]) -> float:
    values = [f for f in fields if f.strip()]
    if not values:
        raise ValueError("no value")
    return float(values[-1])


def _position(command: str, f: list[str]) -> Position:
    if len(f) < _POSITION_FIELDS:
        raise ValueError(f"{len(f)} fields, expected at least {_POSITION_FIELDS}")
    if f[2] not in ("A", "V") or f[4] not in ("N", "S") or f[6] not in ("E", "W"):
        raise ValueError("validity or hemisphere")
    when = _ddmmyy_hhmmss(f[0], f[1])
    lat = float(f[3]) * (-1 if f[4] == "S" else 1)
    lon = float(f[5]) * (-1 if f[6] == "W" else 1)
    cells, rest = _cells(f[_POSITION_FIELDS:])
    wifi, rest = _wifi(rest)
    accuracy = float(rest[0]) if rest and rest[0].strip() else None
    return Position(
        command=command,
        time=when,
        valid=f[2] == "A",
        lat=lat,
        lon=lon,
        speed_kmh=float(f[7]),
        course_deg=float(f[8]),
        altitude_m=float(f[9]),
        satellites=int(f[10]),
        signal=int(f[11]),
        battery=int(f[12]),
        steps=int(f[13]),
        rolls=int(f[14]),
        status=int(f[15], 16),
        cells=cells,
        wifi=wifi,
        accuracy_m=accuracy,
    )


def _ddmmyy_hhmmss(date: str, time: str) -> datetime:
    """The watch's `ddmmyy` and `hhmmss` (strptime is ten times slower on the hot path)."""
    if len(date) != 6 or len(time) != 6 or not (date + time).isdigit():
        raise ValueError(f"date/time {date!r} {time!r}")
    d, t = int(date), int(time)
    return datetime(2000 + d % 100, d // 100 % 100, d // 10000, t // 10000, t // 100 % 100, t % 100)


def _cells(f: list[str]) -> tuple[tuple[Cell, ...], list[str]]:
    """count, timing advance, MCC, MNC, then (LAC, CID, signal) per cell."""
    if not f or not f[0].strip():
        return (), f
    count = int(f[0])
    if count == 0:
        return (), f[1:]
    mcc, mnc = int(f[2]), int(f[3])
    cells = tuple(
        Cell(mcc, mnc, int(f[4 + 3 * i]), int(f[5 + 3 * i]), int(f[6 + 3 * i]))
        for i in range(count)
    )
    return cells, f[4 + 3 * count :]


def _wifi(f: list[str]) -> tuple[tuple[WifiAp, ...], list[str]]:
    """count, then (name, MAC, signal) per access point."""
    if not f or not f[0].strip():
        return (), f
    count = int(f[0])
    aps = tuple(
        WifiAp(mac=f[2 + 3 * i].lower(), signal=int(f[3 + 3 * i]), name=f[1 + 3 * i])
        for i in range(count)
    )
    return aps, f[1 + 3 * count :]
