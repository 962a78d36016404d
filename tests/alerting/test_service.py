"""The running service: an SOS on the stored stream reaches 120 fast; SIGTERM stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import orjson
from psycopg import sql

from alerting.engine import Engine
from alerting.service import AlertingService
from tests.alerting.factories import HOME, add_contact, insert_event, make_resident
from tests.alerting.receivers import start_receivers


def test_sos_reaches_120_in_under_a_second_even_while_the_sms_gateway_hangs(
    clean_alerts, new_band_ids, settings, redis_client
):
    db = clean_alerts
    configured, recv = start_receivers(settings, alerting_consumer_name="test-consumer")
    recv["community"].on_request = lambda: time.sleep(3)  # a hanging SMS gateway
    (band,) = new_band_ids(1)
    resident = make_resident(db, band)
    add_contact(db, resident)
    service = AlertingService(configured)
    service.start()
    try:
        time.sleep(1.5)  # consumer group created, context loaded
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
        redis_client.xadd(f"{configured.redis_prefix}stream:stored", {"batch": orjson.dumps(batch)})
        while not recv["g120"].received and time.monotonic() - sent < 5:
            time.sleep(0.005)
        latency = time.monotonic() - sent
        assert recv["g120"].received, "the 120 gateway never got the SOS"
        assert latency < 1.0
        assert recv["g120"].received[0].json["resident"]["name"] == "Test Resident"
        time.sleep(0.3)
        assert len(recv["g120"].received) == 1  # stream and sweep together: one dispatch
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
    time.sleep(2.0)
    assert child.poll() is None, child.stderr.read().decode()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=15) == 0


class Clock:
    """A settable clock for the service's loops."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def wait_for(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


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
                if e["kind"] == "notified"]  # fmt: skip

    clock = Clock(t0 + timedelta(minutes=59))
    configured = settings.model_copy(update={"alerting_consumer_name": "esc-test"})
    service = AlertingService(configured, clock=clock)
    service.start()
    try:
        time.sleep(1.5)
        assert steps() == [0]  # not yet
        clock.now = t0 + timedelta(minutes=60, seconds=1)
        assert wait_for(lambda: steps() == [0, 2])
    finally:
        service.stop()
    clock.now = t0 + timedelta(minutes=75)
    restarted = AlertingService(configured, clock=clock)
    restarted.start()
    try:
        time.sleep(1.5)
        assert steps() == [0, 2]  # the restart repeats nothing
        clock.now = t0 + timedelta(hours=24, seconds=1)
        assert wait_for(lambda: steps() == [0, 2, 4])
        time.sleep(1.2)
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
    stream = f"{configured.redis_prefix}stream:stored"
    service = AlertingService(configured)
    service.start()
    try:
        time.sleep(1.5)  # consumer group created
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
            assert wait_for(lambda: sos_alerts(db, good) == 1)  # the other SOS is not held up
            time.sleep(0.3)
            assert sos_alerts(db, bad) == 0
            assert redis_client.xpending(stream, service.group)["pending"] == 1
            assert service.failed_events >= 1
        assert wait_for(lambda: sos_alerts(db, bad) == 1, timeout_s=10)
        assert wait_for(lambda: redis_client.xpending(stream, service.group)["pending"] == 0)
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
                if e["kind"] == "notified"]  # fmt: skip

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
        assert wait_for(lambda: steps() == [0, 2])
        assert wait_for(lambda: watchdog_reports() == [stuck])
    finally:
        service.stop()
