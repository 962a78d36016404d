"""`eldercare alerting`: the engine loops, escalation, watchdog and dispatcher, supervised.

Loops (each a named thread with its own connection, restarted with jittered backoff):
- stream: the shard's stored stream (`alerting.stored_stream`, which also drains the streams of
  an earlier shard count); SOS/fall events are applied at once, touched bands are handed to
  the band worker; entries are acknowledged after that, except those with an SOS/fall that
  failed: read again after 5 s.
- bands: evaluates the bands with fresh data (bursts coalesced), off the SOS path; with
  alerting_incremental from windows kept in memory, reading new rows only (band_worker.py).
- rebuild: reads the history of bands not tracked yet (all after a start), in the background.
- sweep: every alerting_sweep_s, all bands of the shard (catches lost stream entries and
  conditions completed by time: not worn, geofence dwell) and SOS/fall events past the watermark
  (which stops short of the first event that failed, so the next sweep retries it).
- tick: every alerting_tick_s, device health; once a minute, inactivity and context reload.
- escalation: due steps of alerts and of residents' requests every second.
- watchdog: every 30 s, raises an alert when escalation steps are overdue (its own thread and
  connection, so a failing or stuck escalation loop cannot silence it).
- unreached: every 0.5 s, raises `emergency_unreached` for SOS/fall notices not delivered
  within alerting_emergency_deadline_s (its own thread, like the watchdog).
- dispatch-<lane>: the outbox, one thread per gateway, woken by `{prefix}outbox:wake:<lane>`
  or every 0.5 s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
import psycopg
import redis

from alerting import request_ladder
from alerting.alerts import escalation, unreached, watchdog
from alerting.alerts import service as alerts
from alerting.band_worker import BandWorker
from alerting.dispatcher import Dispatcher, purge_delivered
from alerting.engine import Engine, apply_findings, refresh_baselines
from alerting.http import AlertingHttp
from alerting.metrics import AlertingMetrics
from alerting.rules.common import CRITICAL, Finding
from alerting.stored_stream import StoredStreamReader
from eldercare import keys
from eldercare.loops import Loops, stop_on_signal
from eldercare.redis_client import connect_redis
from eldercare.settings import Settings

log = logging.getLogger(__name__)

# One dispatcher thread per lane, so a hanging gateway never delays another one's messages
# (an SOS to 120 never waits behind a slow SMS gateway).
DISPATCH_LANES = {
    "120": ("gateway_120",),
    "community": ("community_gateway",),
    "family": ("family_gateway",),
    "streams": ("console", "changes"),
}
# Lanes of channels only a configured chain uses: started when one does.
CHAIN_LANES = {
    "sms": ("sms",),
    "voice": ("voice",),
    "robots": ("dingtalk", "wecom", "feishu"),
}


def lanes_for(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The dispatch lanes this configuration needs."""
    used = {link.channel for plan in settings.alerting_recipients.values() for link in plan.chain}
    extra = {lane: chans for lane, chans in CHAIN_LANES.items() if used & set(chans)}
    return {**DISPATCH_LANES, **extra}


def _now() -> datetime:
    return datetime.now(UTC)


class AlertingService:
    """All loops of one engine process; `stop` ends them."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = _now):
        self.settings = settings
        self.clock = clock
        self.loops = Loops("alerting")
        self.stopping = self.loops.stopping
        self.prefix = settings.redis_prefix
        s = settings
        self.group = keys.stored_stream_group(s.alerting_shard_index, s.alerting_shard_count)
        self.lanes = lanes_for(settings)
        self.band_worker = BandWorker(
            settings,
            clock=clock,
            stopping=self.stopping,
            connect=self._connect,
            wake_dispatcher=self._wake_dispatcher,
        )
        self.failed_events = 0  # SOS/fall events whose alert could not be written, so far
        self.metrics = AlertingMetrics()
        self.http = AlertingHttp(settings, self.metrics.registry, clock)
        self.http_port = 0

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(
            self.settings.database_url.get_secret_value(),
            autocommit=True,
            application_name="eldercare-alerting",
        )

    def _wake_dispatcher(self, r: redis.Redis) -> None:
        try:
            pipe = r.pipeline(transaction=False)
            for lane in self.lanes:
                pipe.lpush(keys.outbox_wake(self.prefix, lane), b"1")
                pipe.ltrim(keys.outbox_wake(self.prefix, lane), 0, 0)
            pipe.execute()
        except redis.RedisError:
            log.warning("could not wake the dispatcher; it polls anyway")

    # --- supervision --------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.alerting_http_port:
            try:
                self.http_port = self.http.start()
            except OSError:
                log.exception("alerting HTTP server (health, metrics, receipts) did not start")
        self.loops.start(
            {
                "stream": self._stream_loop,
                "bands": self.band_worker.hot_loop,
                "sweep": self._sweep_loop,
                "rebuild": self.band_worker.rebuild_loop,
                "tick": self._tick_loop,
                "escalation": self._escalation_loop,
                "watchdog": self._watchdog_loop,
                "unreached": self._unreached_loop,
                "metrics": self._metrics_loop,
                **{f"dispatch-{lane}": partial(self._dispatch_loop, lane) for lane in self.lanes},
            }
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        self.loops.stop(timeout_s)
        self.http.stop()

    # --- loops --------------------------------------------------------------------------

    def _stream_loop(self) -> None:
        r = connect_redis(self.settings)
        reader = StoredStreamReader.for_settings(r, self.settings)
        reader.join()
        engine = Engine(self.settings)  # only its shard test is used on this path
        with self._connect() as conn:
            while not self.stopping.is_set():
                stream, entries = reader.read(block_ms=1000)
                if entries:
                    held = self.process_entries(conn, engine, entries, r)
                    reader.settle(stream, entries, held)

    def process_entries(self, conn, engine: Engine, entries, r: redis.Redis) -> set[Any]:
        """Handle stored-stream entries: SOS/fall now; touched bands go to the band worker.

        Returns the ids of entries whose SOS/fall could not be applied (not to be acknowledged).
        """
        events_of: dict[Any, list[dict]] = {}
        bands: set[str] = set()
        for entry_id, fields in entries:
            fields = fields or {}  # none: trimmed from the stream while still pending
            raw = fields.get(b"batch") or fields.get("batch")
            if raw is None:
                continue
            try:
                batch = orjson.loads(raw)
            except orjson.JSONDecodeError:
                log.error("unreadable stored-stream entry skipped")
                continue
            if isinstance(batch.get("committed_at_ms"), int | float):
                lag_s = time.time() - batch["committed_at_ms"] / 1000
                self.metrics.stream_lag.set(max(0.0, lag_s))
            events_of[entry_id] = [
                e for e in batch.get("events", []) if engine.owns(e["device_id"])
            ]
            for key in ("telemetry", "location", "status"):
                bands.update(d for d in batch.get(key, []) if engine.owns(d))
        events = [e for found in events_of.values() for e in found]
        changed, failed = self._apply_events(conn, engine, events, now=self.clock())
        if changed:
            self._wake_dispatcher(r)
        if bands:
            self.band_worker.mark_dirty(bands)
        return {i for i, found in events_of.items() if any(_key(e) in failed for e in found)}

    def _apply_events(
        self, conn, engine: Engine, events: list[dict], *, now: datetime
    ) -> tuple[list[int], set[tuple[str, str]]]:
        """Apply SOS/fall events; return the alerts changed and the keys of events that failed."""
        failed: list[Finding] = []
        changed = apply_findings(conn, engine.findings_from_events(events), now=now, failed=failed)
        if failed:
            self.failed_events += len(failed)
            self.metrics.failed_events.inc(len(failed))
            log.error(
                "%s SOS/fall events failed and are held for retry (%s since start)",
                len(failed),
                self.failed_events,
            )
            self._tell_duty_staff(conn, failed, now=now)
        return changed, {(f.device_id, str(f.source_event_id)) for f in failed}

    def _tell_duty_staff(self, conn, failed: list[Finding], *, now: datetime) -> None:
        """A critical system alert naming the bands whose SOS/fall could not be recorded.

        Retries go on regardless; this makes sure a person knows while they do.
        """
        try:
            alerts.raise_system_alert(
                conn,
                rule="emergency_not_recorded",
                title="An SOS or fall could not be recorded: call the resident",
                details={
                    "events": [
                        {
                            "device_id": f.device_id,
                            "event_id": str(f.source_event_id),
                            "type": f.rule,
                        }
                        for f in failed
                    ]
                },  # fmt: skip
                now=now,
                severity=CRITICAL,
            )
        except psycopg.Error:
            log.exception("could not raise the emergency_not_recorded alert either")

    def _sweep_loop(self) -> None:
        r = connect_redis(self.settings)
        engine = Engine(self.settings)  # SOS/fall events only
        baselines_at = 0.0
        with self._connect() as conn:
            while not self.stopping.is_set():
                now = self.clock()
                if (
                    self.settings.alerting_shard_index == 0
                    and time.monotonic() - baselines_at > 6 * 3600
                ):
                    refresh_baselines(conn, now=now)
                    purge_delivered(conn, now=now)
                    baselines_at = time.monotonic()
                with self.metrics.sweep_seconds.time():
                    changed = self.sweep_events(conn, engine, now=now)
                    changed += apply_findings(
                        conn, self.band_worker.evaluation.sweep(conn, now=now), now=now
                    )
                if changed:
                    self._wake_dispatcher(r)
                self.stopping.wait(self.settings.alerting_sweep_s)

    def sweep_events(self, conn, engine: Engine, *, now: datetime) -> list[int]:
        """Apply SOS/fall events past the watermark; it stops short of the first that failed."""
        mark = f"events:{self.group}"
        row = conn.execute(
            "SELECT value FROM alerting_watermarks WHERE name = %s", (mark,)
        ).fetchone()
        since = row[0] if row else now - timedelta(hours=1)
        events, newest = engine.load_events_since(conn, since=since)
        changed, failed = self._apply_events(conn, engine, events, now=now)
        if failed:
            # received_at has microsecond precision: the next sweep re-reads the failed event.
            first = min(e["received_at"] for e in events if _key(e) in failed)
            newest = first - timedelta(microseconds=1)
        if newest is not None:
            conn.execute(
                """INSERT INTO alerting_watermarks (name, value) VALUES (%s, %s)
                   ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value""",
                (mark, newest),
            )
        return changed

    def _tick_loop(self) -> None:
        r = connect_redis(self.settings)
        engine = Engine(self.settings)
        with self._connect() as conn:
            last_slow = 0.0
            while not self.stopping.is_set():
                now = self.clock()
                found = []
                if time.monotonic() - last_slow > 60:
                    engine.refresh(conn, now=now)
                    found += engine.evaluate_inactivity(conn, now=now)
                    last_slow = time.monotonic()
                found += engine.evaluate_health(conn, now=now)
                if apply_findings(conn, found, now=now):
                    self._wake_dispatcher(r)
                self.stopping.wait(self.settings.alerting_tick_s)

    def _escalation_loop(self) -> None:
        r = connect_redis(self.settings)
        with self._connect() as conn:
            while not self.stopping.is_set():
                now = self.clock()
                # Residents' requests climb their ladders in the same loop as alerts.
                if escalation.run_due(conn, now=now) + request_ladder.run_due(conn, now=now):
                    self._wake_dispatcher(r)
                self.stopping.wait(1.0)

    def _watchdog_loop(self) -> None:
        """Report overdue escalation steps, whatever state the escalation loop is in."""
        with self._connect() as conn:
            while not self.stopping.is_set():
                watchdog.check_overdue(
                    conn, now=self.clock(), grace_s=self.settings.alerting_escalation_grace_s
                )
                self.stopping.wait(30.0)

    def _unreached_loop(self) -> None:
        """Tell the duty console (and the director) when an SOS/fall notice is not getting out."""
        r = connect_redis(self.settings)
        deadline_s = self.settings.alerting_emergency_deadline_s
        with self._connect() as conn:
            while not self.stopping.is_set():
                if unreached.check(conn, now=self.clock(), deadline_s=deadline_s) is not None:
                    self.metrics.unreached.inc()
                    self._wake_dispatcher(r)
                self.stopping.wait(0.5)

    def _metrics_loop(self) -> None:
        """Pending notices and their age, per channel, every 5 s."""
        with self._connect() as conn:
            while not self.stopping.is_set():
                self.metrics.refresh_outbox(conn, now=self.clock())
                self.band_worker.evaluation.report(self.metrics)
                self.stopping.wait(5.0)

    def _dispatch_loop(self, lane: str) -> None:
        r = connect_redis(self.settings)
        dispatcher = Dispatcher(self.settings, r, metrics=self.metrics)
        with self._connect() as conn:
            while not self.stopping.is_set():
                dispatcher.run_once(conn, now=self.clock(), channels=self.lanes[lane])
                r.blpop([keys.outbox_wake(self.prefix, lane)], timeout=0.5)


def _key(event: dict) -> tuple[str, str]:
    return (event["device_id"], str(event["event_id"]))


def run_alerting(settings: Settings) -> int:
    """Run the alerting service until SIGTERM or SIGINT; return the exit code."""
    service = AlertingService(settings)
    stop = stop_on_signal("alerting")
    service.start()
    log.info(
        "alerting started (shard %s of %s)",
        settings.alerting_shard_index,
        settings.alerting_shard_count,
    )
    stop.wait()
    service.stop()
    log.info("alerting stopped")
    return 0
