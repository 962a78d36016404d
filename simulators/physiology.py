"""A resident's body as a wristband measures it: heart rate, blood pressure, steps.

Heart rate and blood pressure follow a circadian rhythm (lowest around 03:00 local, highest
in the afternoon), rise with activity with a lag of a couple of minutes, and wander with
autocorrelated noise. The step counter counts from local midnight, as the contract says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from simulators.randomness import Draws

HR_RESPONSE_TAU_S = 120.0  # how fast heart rate follows activity
NOISE_CORRELATION_S = 600.0  # slow wander of vitals around their target
NOISE_SD = (2.0, 2.5, 1.5)  # bpm, mmHg, mmHg
INDOOR_STEPS_PER_MIN = (0.0, 0.0, 2.0, 6.0, 12.0)


@dataclass(frozen=True)
class Profile:
    """What makes one resident's vitals their own."""

    resting_hr_bpm: float
    sbp_mmhg: float
    dbp_mmhg: float
    walking_cadence_steps_per_min: float
    tz: ZoneInfo


def random_profile(rng: Draws, tz: ZoneInfo) -> Profile:
    """A healthy older adult: resting HR 60-74 bpm, BP around 112-128 / 68-80 mmHg."""
    return Profile(
        resting_hr_bpm=rng.uniform(60, 74),
        sbp_mmhg=rng.uniform(112, 128),
        dbp_mmhg=rng.uniform(68, 80),
        walking_cadence_steps_per_min=rng.uniform(80, 105),
        tz=tz,
    )


def circadian(local: datetime) -> float:
    """-1 at 03:00 local, +1 at 15:00 local (`local` is a local-time datetime)."""
    hour = local.hour + local.minute / 60 + local.second / 3600
    return math.cos(2 * math.pi * (hour - 15) / 24)


@dataclass
class Vitals:
    """One moment's true values (floats; the band rounds when it reports)."""

    hr_bpm: float
    sbp_mmhg: float
    dbp_mmhg: float


class Physiology:
    """State of one resident's body, advanced in time steps."""

    def __init__(self, profile: Profile, draws: Draws) -> None:
        self.profile = profile
        self._draws = draws
        self._hr_bpm = profile.resting_hr_bpm
        self._noise = [0.0, 0.0, 0.0]  # hr, sbp, dbp wander
        self._steps = 0.0
        self._steps_date: date | None = None

    def vitals(self, local: datetime, activity: float, dt_s: float) -> Vitals:
        """Advance by `dt_s` with activity 0 (at rest) .. 1 (walking); return vitals then.

        `local` is the moment in the resident's local time.
        """
        p, circ = self.profile, circadian(local)
        hr_target = p.resting_hr_bpm + 5.0 * circ + 20.0 * activity
        self._hr_bpm += (hr_target - self._hr_bpm) * (1 - math.exp(-dt_s / HR_RESPONSE_TAU_S))
        self._wander(dt_s)
        return Vitals(
            hr_bpm=self._hr_bpm + self._noise[0],
            sbp_mmhg=p.sbp_mmhg + 5.0 * circ + 8.0 * activity + self._noise[1],
            dbp_mmhg=p.dbp_mmhg + 3.0 * circ + 3.0 * activity + self._noise[2],
        )

    def _wander(self, dt_s: float) -> None:
        """Ornstein-Uhlenbeck noise with standard deviations 2 bpm, 2.5 and 1.5 mmHg."""
        phi = math.exp(-dt_s / NOISE_CORRELATION_S)
        scale = math.sqrt(1 - phi * phi)
        self._noise = [
            phi * value + sd * scale * self._draws.normal()
            for value, sd in zip(self._noise, NOISE_SD, strict=True)
        ]

    def steps(self, local: datetime, steps_per_min: float, dt_s: float) -> int:
        """Advance the band's step counter; it restarts at 0 at local midnight."""
        today = local.date()
        if today != self._steps_date:
            self._steps_date, self._steps = today, 0.0
        self._steps += max(0.0, steps_per_min) * dt_s / 60
        return min(int(self._steps), 100_000)

    def indoor_steps_per_min(self, local: datetime) -> float:
        """Pottering about indoors: a few steps a minute by day, none at night."""
        if local.hour < 6 or local.hour >= 22:
            return 0.0
        return INDOOR_STEPS_PER_MIN[self._draws.integers(0, len(INDOOR_STEPS_PER_MIN))]
