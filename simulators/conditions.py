"""Episodes that change a resident's vitals or behaviour for a while (illness, a fall)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from simulators.physiology import Profile, Vitals


@dataclass(frozen=True)
class VitalsEpisode:
    """A condition that develops over `ramp` from `onset` and lasts until `end` (None: on).

    Targets are the resting values the condition drives towards; the resident's rhythm and
    noise ride on top. From `rest_from` the resident sits still (no walks, no steps).
    """

    onset: datetime
    ramp: timedelta
    end: datetime | None = None
    hr_bpm: float | None = None
    sbp_mmhg: float | None = None
    dbp_mmhg: float | None = None
    rest_from: datetime | None = None

    def weight(self, at: datetime) -> float:
        """0 before onset, rising linearly to 1 over the ramp, 0 again after `end`."""
        if at < self.onset or (self.end is not None and at >= self.end):
            return 0.0
        return min(1.0, (at - self.onset) / self.ramp)

    def apply(self, at: datetime, vitals: Vitals, profile: Profile) -> Vitals:
        """Vitals shifted towards the condition's targets."""
        w = self.weight(at)
        if w == 0.0:
            return vitals
        return Vitals(
            hr_bpm=_shift(vitals.hr_bpm, self.hr_bpm, profile.resting_hr_bpm, w),
            sbp_mmhg=_shift(vitals.sbp_mmhg, self.sbp_mmhg, profile.sbp_mmhg, w),
            dbp_mmhg=_shift(vitals.dbp_mmhg, self.dbp_mmhg, profile.dbp_mmhg, w),
        )

    def at_rest(self, at: datetime) -> bool:
        """Whether the resident is sitting or lying still at `at` because of this episode."""
        if self.rest_from is None or at < self.rest_from:
            return False
        return self.end is None or at < self.end


def _shift(value: float, target: float | None, baseline: float, weight: float) -> float:
    if target is None:
        return value
    return value + weight * (target - baseline)
