"""Named situations for testing the alerting engine: a fleet of bands plus what goes wrong."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from simulators.band import Band, BandConfig, ScheduledEvent
from simulators.battery import Battery
from simulators.conditions import VitalsEpisode
from simulators.faults import corrupt_some, duplicate_and_delay
from simulators.geo import offset
from simulators.messages import SimMessage
from simulators.movement import Movement, Walk, plan_daily_walks, without_walks_during
from simulators.physiology import Physiology, random_profile
from simulators.randomness import Draws

COMMUNITY_CENTRE = (41.108, 122.994)  # Panjin area
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
HOME_SPREAD_M = 250.0

SCENARIOS = {
    "normal": "healthy residents: daily walks, circadian vitals, no alerts expected",
    "tachycardia": "HR climbs slowly to ~138 bpm at rest and stays there (>120 for >= 10 min)",
    "bradycardia": "HR falls slowly to ~38 bpm at rest and stays there",
    "hypertensive_crisis": "blood pressure climbs to ~198/124 mmHg at rest",
    "sos": "SOS button pressed, re-sent twice (same id) every 10 s as if acked after ~25 s",
    "fall": "fall during a walk; the resident then lies still where they fell",
    "night_wandering": "leaves home at ~02:00 local, walks ~750 m away for ~30 min, returns",
    "band_removed": "wear_off, then worn=false samples without vitals; status continues",
    "battery_dies": "battery drains, low_battery event, then silence and the Last Will",
    "offline_buffered": "out of coverage for hours, then a late upload of buffered data",
    "duplicates_out_of_order": "some messages re-sent, some delayed by 1-10 min",
    "clock_skew": "band clock 10 min fast: every message is a clock_skew dead letter",
    "malformed": "about 5% of payloads broken (bad JSON, missing v, wrong types), marked",
    "demo": "a community's mix for the console: replays the last 40 min, then within 10 s an "
    "SOS and a fall; a tachycardia and a resident far outside home are already under way",
}
# The demo starts this far in the past and catches up at once, so that conditions that must
# last minutes (a sustained tachycardia, leaving home for long enough) are there at start.
DEMO_REPLAY = timedelta(minutes=40)
DEMO_FENCE_RADIUS_M = 500.0  # daily walks go 100-350 m out: only the wanderer leaves
DEMO_ROLES = ("sos", "fall", "tachycardia", "geofence_exit", "hypertensive_crisis")


@dataclass
class World:
    """Where and when a scenario happens."""

    seed: int
    start: datetime
    duration: timedelta
    centre: tuple[float, float] = COMMUNITY_CENTRE
    tz: ZoneInfo = DEFAULT_TZ
    config: BandConfig = field(default_factory=BandConfig)

    @property
    def onset(self) -> datetime:
        """When a scenario's trouble begins: a quarter of the way in."""
        return self.start + self.duration / 4


def _home(rng: Draws, centre: tuple[float, float]) -> tuple[float, float]:
    """The first draws of a band's generator: where its wearer lives (WGS-84)."""
    north_m, east_m = rng.normal(0.0, HOME_SPREAD_M), rng.normal(0.0, HOME_SPREAD_M)
    return offset(*centre, north_m, east_m)


def _band_draws(device_id: str, seed: int) -> Draws:
    return Draws(np.random.default_rng([seed, int(device_id)]))


def home_of(device_id: str, seed: int, centre: tuple[float, float] = COMMUNITY_CENTRE):
    """Where the wearer of a simulated band lives (lat, lon, WGS-84), as make_band places them."""
    return _home(_band_draws(device_id, seed), centre)


def make_band(device_id: str, world: World) -> Band:
    """A healthy resident's band, reproducible from the seed and the device id alone."""
    rng = _band_draws(device_id, world.seed)
    home_lat, home_lon = _home(rng, world.centre)
    profile = random_profile(rng, world.tz)
    walks = plan_daily_walks(rng, world.start, world.duration, world.tz)
    return Band(
        device_id=device_id,
        physiology=Physiology(profile, rng),
        movement=Movement(home_lat, home_lon, walks),
        battery=Battery(rng.uniform(80, 100), rng.uniform(1.2, 1.8)),
        rng=rng,
        start=world.start,
        config=world.config,
        phase_s=rng.uniform(0, world.config.telemetry_interval_s),
    )


def _require(world: World, minimum: timedelta, name: str) -> None:
    if world.duration < minimum:
        raise ValueError(f"scenario {name!r} needs a duration of at least {minimum}")


def _vitals_condition(
    hr_bpm: float | None = None, sbp_mmhg: float | None = None, dbp_mmhg: float | None = None
) -> Callable[[Band, World], None]:
    """A condition that develops over 20 min from the onset while the resident sits still."""

    def apply(band: Band, world: World) -> None:
        _require(world, timedelta(minutes=60), "vitals")
        _vitals_episode(band, world.onset, world.start + world.duration, hr_bpm, sbp_mmhg, dbp_mmhg)

    return apply


def _vitals_episode(
    band: Band,
    onset: datetime,
    until: datetime,
    hr_bpm: float | None = None,
    sbp_mmhg: float | None = None,
    dbp_mmhg: float | None = None,
) -> None:
    """From `onset` vitals drift over 20 min to the given values; the resident sits still."""
    rest_from = onset - timedelta(minutes=10)
    band.movement.walks = without_walks_during(
        band.movement.walks, rest_from - timedelta(hours=1), until
    )
    band.episodes.append(
        VitalsEpisode(
            onset=onset,
            ramp=timedelta(minutes=20),
            rest_from=rest_from,
            hr_bpm=hr_bpm,
            sbp_mmhg=sbp_mmhg,
            dbp_mmhg=dbp_mmhg,
        )
    )


def _sos(band: Band, world: World) -> None:
    band.schedule_event(ScheduledEvent(world.onset, "sos", resends=2))


def _fall(band: Band, world: World) -> None:
    _fall_at(band, world.onset)


def _fall_at(band: Band, fall_at: datetime) -> None:
    """A fall four minutes into a walk; the resident then lies still where they fell."""
    walk = Walk(fall_at - timedelta(minutes=4), 300.0, band.rng.uniform(0, 2 * math.pi), 1.0, 600.0)
    others = without_walks_during(band.movement.walks, walk.start - timedelta(hours=1), walk.end)
    band.movement.walks = [*others, walk]
    band.episodes.append(
        VitalsEpisode(
            onset=fall_at,
            ramp=timedelta(minutes=2),
            hr_bpm=band.physiology.profile.resting_hr_bpm + 12,
            rest_from=fall_at,
        )
    )
    band.schedule_event(ScheduledEvent(fall_at, "fall", resends=2))


def next_local_time(after: datetime, hour: int, tz: ZoneInfo) -> datetime:
    """The first moment at `hour`:00 local time at or after `after`."""
    local = after.astimezone(tz)
    candidate = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate < local:
        candidate += timedelta(days=1)
    return candidate.astimezone(after.tzinfo)


def _night_wandering(band: Band, world: World) -> None:
    leaves_at = next_local_time(world.start, 2, world.tz)
    leaves_at += timedelta(minutes=band.rng.uniform(-10, 10))
    walk = Walk(
        leaves_at,
        band.rng.uniform(700, 900),
        band.rng.uniform(0, 2 * math.pi),
        0.8,
        band.rng.uniform(1500, 2100),
    )
    if walk.end > world.start + world.duration:
        raise ValueError("night_wandering needs a duration that covers 02:00 local + 2 h")
    band.movement.walks = [*without_walks_during(band.movement.walks, leaves_at, walk.end), walk]


def _band_removed(band: Band, world: World) -> None:
    band.schedule_event(ScheduledEvent(world.onset, "wear_off"))


def _battery_dies(band: Band, world: World) -> None:
    hours_to_empty = 0.6 * world.duration.total_seconds() / 3600
    band.battery = Battery(30.0, 30.0 / hours_to_empty, charges_in_evening=False)


def _offline_buffered(band: Band, world: World) -> None:
    gap = min(timedelta(hours=4), world.duration * 0.6)
    band.offline.append((world.onset, world.onset + gap))


def _clock_skew(band: Band, world: World) -> None:
    band.clock_offset_ms = 10 * 60 * 1000


BAND_CHANGES: dict[str, Callable[[Band, World], None]] = {
    "tachycardia": _vitals_condition(hr_bpm=138.0),
    "bradycardia": _vitals_condition(hr_bpm=38.0),
    "hypertensive_crisis": _vitals_condition(sbp_mmhg=198.0, dbp_mmhg=124.0),
    "sos": _sos,
    "fall": _fall,
    "night_wandering": _night_wandering,
    "band_removed": _band_removed,
    "battery_dies": _battery_dies,
    "offline_buffered": _offline_buffered,
    "clock_skew": _clock_skew,
}
MESSAGE_FAULTS: dict[str, Callable[[list[SimMessage], np.random.Generator], list[SimMessage]]] = {
    "duplicates_out_of_order": duplicate_and_delay,
    "malformed": corrupt_some,
}


def _demo(bands: list[Band], world: World) -> None:
    """The first bands each get one kind of trouble (DEMO_ROLES); the others stay well.

    Live time begins DEMO_REPLAY after the world's start. Event ids start a new series per
    run, so a second run's SOS is a new press, not a re-send the ingest deduplicates.
    """
    live, until = world.start + DEMO_REPLAY, world.start + world.duration
    for band in bands:
        band.restart_event_ids(int(live.timestamp()) % 1_000_000)
    for band, role in zip(bands, DEMO_ROLES, strict=False):
        if role == "sos":
            band.schedule_event(ScheduledEvent(live + timedelta(seconds=5), "sos", resends=2))
        elif role == "fall":
            _fall_at(band, live + timedelta(seconds=10))
        elif role == "tachycardia":
            _vitals_episode(band, live - timedelta(minutes=32), until, hr_bpm=138.0)
        elif role == "hypertensive_crisis":
            _vitals_episode(
                band, live - timedelta(minutes=36), until, sbp_mmhg=198.0, dbp_mmhg=124.0
            )
        elif role == "geofence_exit":
            away = Walk(live - timedelta(minutes=25), 2 * DEMO_FENCE_RADIUS_M, 0.5, 1.0, 3 * 3600)
            others = without_walks_during(band.movement.walks, away.start, away.end)
            band.movement.walks = [*others, away]


def build_bands(name: str, world: World, device_ids: list[str]) -> list[Band]:
    """The scenario's bands, ready to `advance`."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    bands = [make_band(device_id, world) for device_id in device_ids]
    if name == "demo":
        _demo(bands, world)
    change = BAND_CHANGES.get(name)
    if change is not None:
        for band in bands:
            change(band, world)
    return bands


def message_faults(name: str, seed: int) -> Callable[[list[SimMessage]], list[SimMessage]] | None:
    """The scenario's message-level faults as a function over batches (None for most)."""
    fault = MESSAGE_FAULTS.get(name)
    if fault is None:
        return None
    rng = np.random.default_rng([seed, 0xFA017])
    return lambda messages: fault(messages, rng)


def run_scenario(
    name: str,
    *,
    seed: int,
    start: datetime,
    duration: timedelta,
    device_ids: list[str],
    centre: tuple[float, float] = COMMUNITY_CENTRE,
    tz: ZoneInfo = DEFAULT_TZ,
    config: BandConfig | None = None,
) -> list[SimMessage]:
    """Every message the scenario's bands publish in [start, start + duration], sorted by `at`.

    Homes are scattered around `centre` (lat, lon); `tz` is the residents' local time (for the
    circadian rhythm, the step counter's midnight and the 02:00 of night wandering); `config`
    sets reporting intervals and the datum of fixes (`crs="gcj02"`).
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    world = World(seed, start, duration, centre, tz, config or BandConfig())
    end = start + duration
    messages = [m for band in build_bands(name, world, device_ids) for m in band.advance(end)]
    faults = message_faults(name, seed)
    if faults is not None:
        messages = faults(messages)
    return sorted(messages, key=lambda m: (m.at, m.device_id, m.kind))
