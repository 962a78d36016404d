"""A band's battery: drains while on, charges off the wrist in the evening, can die."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

LOW_BATTERY_PCT = 15.0
CHARGE_BELOW_PCT = 30.0
CHARGE_UNTIL_PCT = 95.0
CHARGE_RATE_PCT_PER_H = 60.0
EVENING_CHARGE_HOURS = (19, 22)  # local hours when a carer puts the band on its charger


@dataclass
class Battery:
    """Charge level and what happened to it in the last step."""

    level_pct: float
    drain_pct_per_h: float = 1.5
    charging: bool = False
    charges_in_evening: bool = True
    _warned_low: bool = False

    @property
    def dead(self) -> bool:
        return self.level_pct <= 0 and not self.charging

    def advance(self, at: datetime, dt_s: float, tz: ZoneInfo) -> list[str]:
        """Drain or charge for `dt_s`; return the events it caused ("low_battery")."""
        hours = dt_s / 3600
        if self.charging:
            self.level_pct = min(100.0, self.level_pct + CHARGE_RATE_PCT_PER_H * hours)
            self.charging = self.level_pct < CHARGE_UNTIL_PCT
            return []
        self.level_pct = max(0.0, self.level_pct - self.drain_pct_per_h * hours)
        if self.level_pct > LOW_BATTERY_PCT:
            self._warned_low = False
        local_hour = at.astimezone(tz).hour
        if (
            self.charges_in_evening
            and self.level_pct < CHARGE_BELOW_PCT
            and EVENING_CHARGE_HOURS[0] <= local_hour < EVENING_CHARGE_HOURS[1]
        ):
            self.charging = True
            return []
        if self.level_pct <= LOW_BATTERY_PCT and not self._warned_low:
            self._warned_low = True
            return ["low_battery"]
        return []
