"""One wristband: its resident's state and its own clock -> the messages it publishes."""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from simulators.battery import Battery
from simulators.conditions import VitalsEpisode
from simulators.messages import (
    LAST_WILL,
    SimMessage,
    batch_body,
    epoch_ms,
    event_body,
    make_message,
    status_body,
)
from simulators.movement import Movement, Place, make_fix
from simulators.physiology import Physiology
from simulators.randomness import Draws

log = logging.getLogger(__name__)
MAX_SKEW_MS = 5 * 60 * 1000
ALARM_TYPES = ("sos", "fall")


@dataclass(frozen=True)
class BandConfig:
    """How a band reports (the contract's defaults; `config` commands change intervals)."""

    telemetry_interval_s: float = 60.0
    location_interval_s: float = 300.0
    status_interval_s: float = 600.0
    bp_every_n_samples: int = 10
    crs: str = "wgs84"
    fw: str = "2.3.1"
    keepalive_s: float = 60.0
    max_batch_items: int = 500
    resend_period_s: float = 10.0


@dataclass(order=True)
class ScheduledEvent:
    """Something the band will report at `at` (a button press, taking the band off...)."""

    at: datetime
    type: str = field(compare=False)
    service: str | None = field(default=None, compare=False)
    resends: int = field(default=0, compare=False)  # alarm re-sends before the ack arrives


@dataclass
class Band:
    """A band worn by one resident; `advance(until)` returns what it publishes up to then."""

    device_id: str
    physiology: Physiology
    movement: Movement
    battery: Battery
    rng: Draws
    start: datetime
    config: BandConfig = field(default_factory=BandConfig)
    phase_s: float = 0.0
    clock_offset_ms: int = 0
    episodes: list[VitalsEpisode] = field(default_factory=list)
    events: list[ScheduledEvent] = field(default_factory=list)
    offline: list[tuple[datetime, datetime]] = field(default_factory=list)
    worn: bool = True
    alive: bool = True

    def __post_init__(self) -> None:
        first = self.start + timedelta(seconds=self.phase_s)
        spread = self.config.telemetry_interval_s
        self._due = {
            "telemetry": first,
            "location": first + timedelta(seconds=self.rng.uniform(0, spread)),
            "status": first + timedelta(seconds=self.rng.uniform(0, spread)),
        }
        self._last_vitals_at = first - timedelta(seconds=self.config.telemetry_interval_s)
        self._sample_count = 0
        self._boot = self.rng.integers(1, 500)
        self._seq = 0
        self._queue: list[tuple[datetime, int, dict]] = []  # (at, order, event) to send
        self._buffer: dict[str, list[dict]] = {"telemetry": [], "location": [], "event": []}
        self._out: list[SimMessage] = []
        self._charged_off_wrist = False
        for event in self.events:
            self.schedule_event(event)

    @property
    def tz(self) -> ZoneInfo:
        return self.physiology.profile.tz

    def advance(self, until: datetime) -> list[SimMessage]:
        """Run the band up to and including `until`; return the messages it published."""
        self._out = []
        while self.alive:
            kind, at = min(self._due.items(), key=lambda item: item[1])
            if self._queue and self._queue[0][0] <= at:
                at = self._queue[0][0]
                if at > until:
                    break
                self._send_event(at, heapq.heappop(self._queue)[2])
                continue
            if at > until:
                break
            getattr(self, f"_report_{kind}")(at)
            interval = getattr(self.config, f"{kind}_interval_s")
            self._due[kind] = at + timedelta(seconds=interval)
        return self._out

    # -- reports -------------------------------------------------------------------------

    def _report_telemetry(self, at: datetime) -> None:
        dt_s = (at - self._last_vitals_at).total_seconds()
        self._last_vitals_at = at
        for event_type in self.battery.advance(at, dt_s, self.tz):
            self._schedule(at, event_type)
        if self.battery.dead:
            self._die(at)
            return
        self._update_wear(at)
        sample = self._sample(at, dt_s)
        self._publish_items("telemetry", at, [sample])

    def _sample(self, at: datetime, dt_s: float) -> dict:
        place, local = self.movement.place(at), at.astimezone(self.tz)
        resting = any(e.at_rest(at) for e in self.episodes)
        if resting:
            activity, steps_per_min = 0.0, 0.0
        elif place.moving:
            activity = 1.0
            steps_per_min = self.physiology.profile.walking_cadence_steps_per_min
        else:
            activity = 0.15 if place.outdoors else 0.05
            steps_per_min = self.physiology.indoor_steps_per_min(local)
        vitals = self.physiology.vitals(local, activity, dt_s)
        for episode in self.episodes:
            vitals = episode.apply(at, vitals, self.physiology.profile)
        steps = self.physiology.steps(local, steps_per_min, dt_s)
        sample = {"t": self._band_ms(at), "steps": steps, "worn": self.worn}
        if self.worn:
            sample["hr"] = _clamp(vitals.hr_bpm, 25, 250)
            self._sample_count += 1
            if self._sample_count % self.config.bp_every_n_samples == 1:
                sample["sbp"] = sbp = _clamp(vitals.sbp_mmhg, 60, 260)
                sample["dbp"] = _clamp(vitals.dbp_mmhg, 30, min(160, sbp - 10))
        return sample

    def _report_location(self, at: datetime) -> None:
        fix = make_fix(self.movement.place(at), self._band_ms(at), self.rng, self.config.crs)
        self._publish_items("location", at, [fix])

    def _report_status(self, at: datetime) -> None:
        if self._is_offline(at):
            return  # a heartbeat is only worth sending live
        body = status_body(
            self._band_ms(at),
            battery_pct=int(round(self.battery.level_pct)),
            charging=self.battery.charging,
            rssi_dbm=self.rng.integers(-105, -65),
            fw=self.config.fw,
        )
        self._out.append(self._message("status", body, at))

    # -- events --------------------------------------------------------------------------

    def _schedule(self, at: datetime, event_type: str, service: str | None = None) -> None:
        self.schedule_event(ScheduledEvent(at, event_type, service))

    def restart_event_ids(self, boot: int) -> None:
        """Number events from here on as after a reboot: a new id series, no old id reused."""
        self._boot, self._seq = boot, 0

    def schedule_event(self, event: ScheduledEvent) -> None:
        """Queue an event (a button press, a fall) to be sent at `event.at`."""
        self._seq += 1
        body = {"id": f"{self._boot}-{self._seq:06d}", "type": event.type}
        if event.service:
            body["service"] = event.service
        heapq.heappush(self._queue, (event.at, self._seq, {"body": body, "resends": event.resends}))

    def _send_event(self, at: datetime, item: dict) -> None:
        body = item["body"]
        if "t" not in body:  # first send: fix the event's time and position
            body["t"] = self._band_ms(at)
            self._apply_event_effects(at, body["type"])
            if body["type"] in ALARM_TYPES:
                body.update(self._position(self.movement.place(at)))
        self._publish_event(at, dict(body))
        if item["resends"] > 0:
            again = at + timedelta(seconds=self.config.resend_period_s)
            self._seq += 1
            heapq.heappush(
                self._queue, (again, self._seq, {**item, "resends": item["resends"] - 1})
            )

    def _apply_event_effects(self, at: datetime, event_type: str) -> None:
        if event_type == "wear_off":
            self.worn = False
        elif event_type == "wear_on":
            self.worn = True
        elif event_type == "fall":
            self.movement.frozen_at = at

    def _position(self, place: Place) -> dict:
        fix = make_fix(place, 0, self.rng, self.config.crs)
        position = {"lat": fix["lat"], "lon": fix["lon"], "acc": fix["acc"]}
        if "crs" in fix:
            position["crs"] = fix["crs"]
        return position

    def _update_wear(self, at: datetime) -> None:
        """Charging happens off the wrist: the band reports taking off and putting on."""
        if self.battery.charging and self.worn:
            self._schedule(at, "wear_off")
        elif not self.battery.charging and not self.worn and self._charged_off_wrist:
            self._schedule(at, "wear_on")
        self._charged_off_wrist = self.battery.charging

    # -- publishing ----------------------------------------------------------------------

    def _band_ms(self, at: datetime) -> int:
        return epoch_ms(at) + self.clock_offset_ms

    def _is_offline(self, at: datetime) -> bool:
        return any(begin <= at < end for begin, end in self.offline)

    def _publish_items(self, kind: str, at: datetime, items: list[dict]) -> None:
        self._buffer[kind].extend(items)
        if self._is_offline(at):
            return
        self._flush(at)

    def _publish_event(self, at: datetime, body: dict) -> None:
        self._buffer["event"].append(body)
        if not self._is_offline(at):
            self._flush(at)

    def _flush(self, at: datetime) -> None:
        """Send everything buffered (late uploads go in batches of at most 500 items)."""
        size = self.config.max_batch_items
        for kind in ("telemetry", "location"):
            items, self._buffer[kind] = self._buffer[kind], []
            for i in range(0, len(items), size):
                body = batch_body(kind, self._band_ms(at), items[i : i + size])
                self._out.append(self._message(kind, body, at))
        events, self._buffer["event"] = self._buffer["event"], []
        for event in events:
            self._out.append(self._message("event", event_body(self._band_ms(at), event), at))

    def _message(self, kind: str, body: dict, at: datetime) -> SimMessage:
        defect = "clock_skew" if self.clock_offset_ms > MAX_SKEW_MS else None
        return make_message(self.device_id, kind, body, at, defect)

    def _die(self, at: datetime) -> None:
        """The battery is flat: silence; the broker publishes the Last Will after keepalive."""
        self.alive = False
        will_at = at + timedelta(seconds=1.5 * self.config.keepalive_s)
        log.debug("band %s battery dead", self.device_id)
        self._out.append(make_message(self.device_id, "status", dict(LAST_WILL), will_at))


def _clamp(value: float, low: int, high: int) -> int:
    """A measured value rounded and held inside what the band can report."""
    return max(low, min(high, round(value)))
