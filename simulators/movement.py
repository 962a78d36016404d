"""Where a resident is: at home, or out on a walk; and the fixes a band reports for it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from eldercare.datum import to_datum
from simulators.geo import offset
from simulators.randomness import Draws

# Per-axis standard deviation of a 2-D Gaussian whose 68% radius is `acc`:
# P(r <= acc) = 1 - exp(-acc^2 / (2 sigma^2)) = 0.68.
SIGMA_PER_ACC = 1 / math.sqrt(-2 * math.log(1 - 0.68))
# (src, probability when indoors, accuracy range in metres)
INDOOR_SOURCES = (
    ("wifi", 0.85, (15.0, 40.0)),
    ("cell", 0.10, (300.0, 1500.0)),
    ("gnss", 0.05, (20.0, 60.0)),
)
OUTDOOR_ACC_M = (4.0, 15.0)


@dataclass(frozen=True)
class Walk:
    """Out along a bearing, linger, come back the same way."""

    start: datetime
    out_m: float
    bearing_rad: float
    speed_mps: float
    linger_s: float
    leg_s: float = field(init=False)
    end: datetime = field(init=False)

    def __post_init__(self) -> None:
        leg_s = self.out_m / self.speed_mps
        object.__setattr__(self, "leg_s", leg_s)
        object.__setattr__(self, "end", self.start + timedelta(seconds=2 * leg_s + self.linger_s))

    def where(self, at: datetime) -> tuple[float, bool] | None:
        """(distance from home in metres, moving?) at `at`, or None outside the walk."""
        s = (at - self.start).total_seconds()
        if s < 0 or at >= self.end:
            return None
        if s < self.leg_s:
            return s * self.speed_mps, True
        if s < self.leg_s + self.linger_s:
            return self.out_m, False
        return self.out_m - (s - self.leg_s - self.linger_s) * self.speed_mps, True


@dataclass(frozen=True)
class Place:
    """Where the resident is at one moment."""

    lat: float
    lon: float
    outdoors: bool
    moving: bool


@dataclass
class Movement:
    """A resident who lives at `home` and goes for walks; can be stopped in place (a fall)."""

    home_lat: float
    home_lon: float
    walks: list[Walk] = field(default_factory=list)
    frozen_at: datetime | None = None

    def place(self, at: datetime) -> Place:
        """Where the resident is at `at`."""
        moment = min(at, self.frozen_at) if self.frozen_at else at
        for walk in self.walks:
            if not walk.start <= moment < walk.end:
                continue
            state = walk.where(moment)
            if state is not None:
                dist_m, moving = state
                lat, lon = offset(
                    self.home_lat,
                    self.home_lon,
                    dist_m * math.cos(walk.bearing_rad),
                    dist_m * math.sin(walk.bearing_rad),
                )
                return Place(lat, lon, True, moving and moment == at)
        return Place(self.home_lat, self.home_lon, False, False)


def plan_daily_walks(rng: Draws, start: datetime, duration: timedelta, tz: ZoneInfo) -> list[Walk]:
    """One morning and one afternoon walk a day, 100-350 m out, at 0.8-1.2 m/s."""
    walks = []
    first_day = start.astimezone(tz).date() - timedelta(days=1)
    for day in range((duration.days or 0) + 3):
        local_day = first_day + timedelta(days=day)
        for window_start_h in (9.0, 15.0):
            begin = datetime(local_day.year, local_day.month, local_day.day, tzinfo=tz)
            begin += timedelta(hours=window_start_h + rng.uniform(0, 2))
            walks.append(
                Walk(
                    start=begin.astimezone(start.tzinfo),
                    out_m=rng.uniform(100, 350),
                    bearing_rad=rng.uniform(0, 2 * math.pi),
                    speed_mps=rng.uniform(0.8, 1.2),
                    linger_s=rng.uniform(300, 900),
                )
            )
    return walks


def without_walks_during(walks: list[Walk], begin: datetime, end: datetime) -> list[Walk]:
    """The walks that do not overlap [begin, end) (a resident who is ill stays in)."""
    return [w for w in walks if w.end <= begin or w.start >= end]


def _indoor_source(rng: Draws) -> tuple[str, float]:
    """Indoors: mostly Wi-Fi positioning, sometimes a cell fix, rarely a poor GNSS fix."""
    pick = rng.random()
    for src, probability, (low_m, high_m) in INDOOR_SOURCES:
        if pick < probability:
            return src, rng.uniform(low_m, high_m)
        pick -= probability
    src, _, (low_m, high_m) = INDOOR_SOURCES[-1]
    return src, rng.uniform(low_m, high_m)


def make_fix(place: Place, t_ms: int, rng: Draws, crs: str = "wgs84") -> dict:
    """A fix as the band reports it: source and accuracy by setting, position jittered by acc."""
    if place.outdoors:
        src, acc_m = "gnss", rng.uniform(*OUTDOOR_ACC_M)
    else:
        src, acc_m = _indoor_source(rng)
    sigma_m = acc_m * SIGMA_PER_ACC
    lat, lon = offset(place.lat, place.lon, rng.normal(0.0, sigma_m), rng.normal(0.0, sigma_m))
    if crs == "gcj02":
        lat, lon = to_datum(lat, lon, "gcj02")
    fix = {
        "t": t_ms,
        "lat": round(lat, 6),
        "lon": round(lon, 6),
        "acc": round(acc_m, 1),
        "src": src,
    }
    if crs != "wgs84":
        fix["crs"] = crs
    return fix
