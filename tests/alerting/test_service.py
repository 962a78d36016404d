"""The running service: an SOS on the stored stream reaches 120 fast; SIGTERM stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import orjson
from psycopg import sql

from alerting.engine import Engine
from alerting.worker import AlertingService
from eldercare import keys
from tests.alerting.factories import HOME, add_contact, insert_event, make_resident
from tests.alerting.receivers import start_receivers
from tests.support.wait import wait_until


def test_sos_reaches_120_in_under_a_second_even_while_the_sms_gateway_hangs(
    clean_alerts, new_band_ids, settings, redis_client
):
    db = clean_alerts
    configured, recv = start_receivers(
        settings, alerting_consumer_name="test-consumer", alerting_sweep_s=1.0
    )
    recv["community"].on_request = lambda: time.sleep(3)  # a hanging SMS gateway
    (band,) = new_band_ids(1)
    resident = make_resident(db, band)
    add_contact(db, resident)
    service = AlertingService(configured)
    stream = keys.stored_stream(configured.redis_prefix, 0, 1)
    service.start()
    try:
        wait_until(lambda: group_ready(redis_client, stream, service.group))
        now = datetime.now(UTC)
        event = insert_event(db, band, "live-1", "sos", now, *HOME, 6.0)
        sent = time.monotonic()
        batch = {
            "committed_at_ms": int(now.timestamp() * 1000),
            "telemetry": [],
            "location": [],
            "status": [],
            "events": [event],
        }
        redis_client.xadd(stream, {"batch": orjson.dumps(batch)})
        wait_until(lambda: recv["g120"].received, timeout_s=5, interval_s=0.005)
        latency = time.monotonic() - sent
        assert latency < 1.0
        assert recv["g120"].received[0].json["resident"]["name"] == "Test Resident"
        # The sweep reads the same press from the database: once it has passed it and the
        # 120 lane has nothing left to send, there was one dispatch.
        wait_until(lambda: swept_past(db, service.group, band, "live-1"), timeout_s=30)
        wait_until(lambda: nothing_queued(db, "gateway_120"), timeout_s=10)
        # On failure, the keys tell a retry of one dispatch from a second dispatch.
        assert len(recv["g120"].received) == 1, recv["g120"].keys()
    finally:
        service.stop()
        for r in recv.values():
            r.stop()


def test_eldercare_alerting_stops_cleanly_on_sigterm(settings, repo_root):
    env = os.environ.copy()
    env.update(
        {
            "ELDERCARE_ENVIRONMENT": "test",
            "ELDERCARE_DATABASE_URL": settings.database_url.get_secret_value(),
            "ELDERCARE_REDIS_URL": settings.redis_url.get_secret_value(),
            "ELDERCARE_REDIS_PREFIX": settings.redis_prefix,
            "ELDERCARE_ALERTING_CONSUMER_NAME": "sigterm-test",
        }
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "eldercare.cli", "alerting"],
        cwd=repo_root,
        env=env,
        stderr=subprocess.PIPE,
    )
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(child.stderr.readline, b"")))
    reader.start()
    # Under load the imports alone can take seconds: signal once it says it runs, not after a
    # guess (a SIGTERM before its handler is installed kills it, which is no clean stop).
    wait_until(lambda: any(b"alerting started" in line for line in lines), timeout_s=60)
    assert child.poll() is None, b"".join(lines).decode()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 0, b"".join(lines).decode()
    reader.join(timeout=5)
    assert any(b"alerting stopped" in line for line in lines), b"".join(lines).decode()


class Clock:
    """A settable clock for the service's loops; counts the readings of each loop."""

    def __init__(self, now: datetime):
        self.now = now
        self.readings: dict[str, int] = {}

    def __call__(self) -> datetime:
        name = threading.current_thread().name
        self.readings[name] = self.readings.get(name, 0) + 1
        return self.now

    def passes_of(self, loop: str, more: int) -> Callable[[], bool]:
        """A condition: `loop` has read the clock `more` more times from now (a reading
        starts a pass, so `more` = 2 means at least one whole pass ran in between)."""
        target = self.readings.get(loop, 0) + more
        return lambda: self.readings.get(loop, 0) >= target


def group_ready(redis_client, stream: str, group: str) -> bool:
    """The engine's consumer group exists: an entry added now will be read."""
    if not redis_client.exists(stream):
        return False
    return any(g["name"].decode() == group for g in redis_client.xinfo_groups(stream))


def swept_past(db, group: str, band: str, event_id: str) -> bool:
    """The sweep's watermark has passed the stored event."""
    row = db.execute(
        """SELECT w.value >= e.received_at FROM alerting_watermarks w, device_events e
           WHERE w.name = %s AND e.device_id = %s AND e.event_id = %s""",
        (f"events:{group}", band, event_id),
    ).fetchone()
    return bool(row and row[0])


def nothing_queued(db, channel: str) -> bool:
    """No message of `channel` waits to be sent."""
    row = db.execute(
        "SELECT count(*) FROM outbox WHERE channel = %s AND status IN ('pending', 'held')",
        (channel,),
    ).fetchone()
    return row[0] == 0


def test_escalation_steps_fire_once_at_their_time_across_a_service_restart(
    clean_alerts, new_band_ids, settings
):
    from datetime import timedelta

    from alerting.alerts import service as alerts
    from alerting.rules.common import Finding

    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    t0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    finding = Finding(
        rule="tachycardia", device_id=band, severity=3, observed_at_ms=int(t0.timestamp() * 1000)
    )
    alert_id = alerts.apply_finding(db, finding=finding, now=t0)

    def steps():
        return [e["data"]["step"] for e in alerts.timeline(db, alert_id=alert_id)
                if e["kind"] == "queued"]  # fmt: skip

    clock = Clock(t0 + timedelta(minutes=59))
    configured = settings.model_copy(update={"alerting_consumer_name": "esc-test"})
    service = AlertingService(configured, clock=clock)
    service.start()
    try:
        wait_until(clock.passes_of("escalation", 2))
        assert steps() == [0]  # not yet
        clock.now = t0 + timedelta(minutes=60, seconds=1)
        wait_until(lambda: steps() == [0, 2])
    finally:
        service.stop()
    clock.now = t0 + timedelta(minutes=75)
    restarted = AlertingService(configured, clock=clock)
    restarted.start()
    try:
        wait_until(clock.passes_of("escalation", 2))
        assert steps() == [0, 2]  # the restart repeats nothing
        clock.now = t0 + timedelta(hours=24, seconds=1)
        wait_until(lambda: steps() == [0, 2, 4])
        wait_until(clock.passes_of("escalation", 2))
        assert steps() == [0, 2, 4]
    finally:
        restarted.stop()


@contextmanager
def sos_writes_fail_for(db, band: str):
    """A real database error for every SOS/fall of `band` (its dedup insert raises)."""
    db.execute(
        """CREATE FUNCTION test_refuse_band() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               IF NEW.device_id = TG_ARGV[0] THEN RAISE EXCEPTION 'refused for the test'; END IF;
               RETURN NEW;
           END $$"""
    )
    db.execute(
        sql.SQL(
            "CREATE TRIGGER test_refuse_band BEFORE INSERT ON alerting_seen_events"
            " FOR EACH ROW EXECUTE FUNCTION test_refuse_band({})"
        ).format(sql.Literal(band))
    )
    try:
        yield
    finally:
        db.execute("DROP TRIGGER test_refuse_band ON alerting_seen_events")
        db.execute("DROP FUNCTION test_refuse_band()")


def sos_alerts(db, band: str) -> int:
    return db.execute(
        "SELECT count(*) FROM alerts WHERE device_id = %s AND rule = 'sos'", (band,)
    ).fetchone()[0]


def test_sos_the_database_refused_stays_on_the_stream_and_is_retried(
    clean_alerts, new_band_ids, settings, redis_client
):
    db = clean_alerts
    bad, good = new_band_ids(2)
    make_resident(db, bad)
    make_resident(db, good)
    configured = settings.model_copy(update={"alerting_consumer_name": "retry-test"})
    stream = keys.stored_stream(configured.redis_prefix, 0, 1)
    service = AlertingService(configured)
    service.start()
    try:
        wait_until(lambda: group_ready(redis_client, stream, service.group))
        now = datetime.now(UTC)
        # Not stored in device_events: only the stream entry can deliver these presses.
        events = [
            {"device_id": band, "event_id": f"retry-{band}", "type": "sos",
             "t_ms": int(now.timestamp() * 1000), "lat": None, "lon": None, "acc_m": None}
            for band in (bad, good)
        ]  # fmt: skip
        batch = {"committed_at_ms": 0, "telemetry": [], "location": [], "status": []}
        with sos_writes_fail_for(db, bad):
            redis_client.xadd(stream, {"batch": orjson.dumps({**batch, "events": events})})
            wait_until(lambda: sos_alerts(db, good) == 1)  # the other SOS is not held up
            wait_until(lambda: service.failed_events >= 1)
            assert sos_alerts(db, bad) == 0
            assert redis_client.xpending(stream, service.group)["pending"] == 1
            assert service.failed_events >= 1
        wait_until(lambda: sos_alerts(db, bad) == 1, timeout_s=10)
        wait_until(lambda: redis_client.xpending(stream, service.group)["pending"] == 0)
    finally:
        service.stop()


def test_sweep_holds_its_watermark_before_an_sos_the_database_refused(
    clean_alerts, new_band_ids, settings
):
    db = clean_alerts
    bad, good = new_band_ids(2)
    make_resident(db, bad)
    make_resident(db, good)
    t0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    insert_event(db, bad, "sweep-1", "sos", t0 - timedelta(minutes=2))
    insert_event(db, good, "sweep-2", "sos", t0 - timedelta(minutes=1))  # received after
    service, engine = AlertingService(settings), Engine(settings)
    with sos_writes_fail_for(db, bad):
        service.sweep_events(db, engine, now=t0)
        service.sweep_events(db, engine, now=t0 + timedelta(seconds=30))
    assert (sos_alerts(db, bad), sos_alerts(db, good)) == (0, 1)
    # Meanwhile duty staff see one critical alert naming the band, repeated, not duplicated.
    (alert,) = db.execute(
        """SELECT severity, occurrences, details FROM alerts
           WHERE rule = 'emergency_not_recorded' AND status = 'open'"""
    ).fetchall()
    assert alert[:2] == (4, 2)
    assert alert[2]["events"] == [{"device_id": bad, "event_id": "sweep-1", "type": "sos"}]
    service.sweep_events(db, engine, now=t0 + timedelta(seconds=60))
    assert sos_alerts(db, bad) == 1


def test_an_alert_whose_ladder_breaks_stalls_no_other_and_the_watchdog_reports_it(
    clean_alerts, new_band_ids, settings
):
    from alerting.alerts import service as alerts
    from alerting.rules.common import Finding

    db = clean_alerts
    stuck_band, band = new_band_ids(2)
    make_resident(db, stuck_band)
    make_resident(db, band)
    t0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    ms = int(t0.timestamp() * 1000)
    broken = [
        {"action": "notify", "targets": ["duty_console"]},
        {"action": "wait", "seconds": 60},
        {"action": "repeat", "to_step": 0, "times": "often"},  # cannot advance past here
    ]
    db.execute(
        "INSERT INTO escalation_policies (policy_id, steps) VALUES ('test_broken', %s)",
        (orjson.dumps(broken).decode(),),
    )
    db.execute("INSERT INTO escalation_rule_policies VALUES ('bradycardia', 'test_broken')")
    try:
        stuck = alerts.apply_finding(
            db,
            finding=Finding(rule="bradycardia", device_id=stuck_band, observed_at_ms=ms),
            now=t0,
        )
    finally:  # the alert keeps its copy of the ladder
        db.execute("DELETE FROM escalation_rule_policies WHERE rule = 'bradycardia'")
        db.execute("DELETE FROM escalation_policies WHERE policy_id = 'test_broken'")
    alert_id = alerts.apply_finding(
        db, finding=Finding(rule="tachycardia", device_id=band, observed_at_ms=ms), now=t0
    )

    def steps():
        return [e["data"]["step"] for e in alerts.timeline(db, alert_id=alert_id)
                if e["kind"] == "queued"]  # fmt: skip

    def watchdog_reports():
        row = db.execute(
            "SELECT details FROM alerts WHERE rule = 'escalation_overdue' AND status = 'open'"
        ).fetchone()
        return row and row[0]["alert_ids"]

    clock = Clock(t0 + timedelta(minutes=60, seconds=1))  # the director's step is due
    configured = settings.model_copy(update={"alerting_consumer_name": "stuck-test"})
    service = AlertingService(configured, clock=clock)
    service.start()
    try:
        wait_until(lambda: steps() == [0, 2])
        wait_until(lambda: watchdog_reports() == [stuck])
    finally:
        service.stop()
