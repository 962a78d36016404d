"""Escalation with a fixed clock, and delivery through the outbox to real HTTP receivers."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import jsonschema
import psycopg
import pytest

from alerting.alerts import escalation, watchdog
from alerting.alerts import service as alerts
from alerting.dispatcher import Dispatcher
from alerting.engine import Engine, apply_findings
from alerting.rules.common import Finding
from tests.alerting.factories import (
    HOME,
    T0,
    add_contact,
    insert_event,
    insert_fixes,
    make_resident,
)
from tests.alerting.receivers import start_receivers
from tests.support.wait import wait_until

SCHEMA = Path(__file__).resolve().parents[2] / "alerting/channels/schemas/dispatch_120.schema.json"


@pytest.fixture
def gateways(settings):
    """Three receivers, and settings pointing the dispatcher at them."""
    configured, recv = start_receivers(settings)
    yield configured, recv
    for r in recv.values():
        r.stop()


def raise_tachycardia(db, band, now):
    finding = Finding(
        rule="tachycardia",
        device_id=band,
        observed_at_ms=int(now.timestamp() * 1000),
        severity=3,
        title="Sustained high heart rate at rest",
    )
    return alerts.apply_finding(db, finding=finding, now=now)


def queued(db, alert_id):
    return [
        (e["data"]["step"], tuple(e["data"]["targets"]))
        for e in alerts.timeline(db, alert_id=alert_id)
        if e["kind"] == "queued"
    ]


def test_unanswered_alert_climbs_the_ladder_each_step_once_across_restart(
    clean_alerts, new_band_ids, database_url
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    alert_id = raise_tachycardia(db, band, T0)
    assert queued(db, alert_id) == [(0, ("duty_console", "grid_worker"))]
    escalation.run_due(db, now=T0 + timedelta(minutes=59))
    assert len(queued(db, alert_id)) == 1
    # "Restart": a new connection, a new process's view; steps run once however often we look.
    with psycopg.connect(database_url, autocommit=True) as other:
        for minute in (60, 61, 90):
            escalation.run_due(other, now=T0 + timedelta(minutes=minute))
    assert queued(db, alert_id)[1] == (2, ("community_director",))
    escalation.run_due(db, now=T0 + timedelta(hours=23, minutes=59))
    assert len(queued(db, alert_id)) == 2
    escalation.run_due(db, now=T0 + timedelta(hours=24))
    escalation.run_due(db, now=T0 + timedelta(hours=25))
    assert queued(db, alert_id)[2] == (4, ("street",))
    assert len(queued(db, alert_id)) == 3
    assert alerts.get(db, alert_id=alert_id)["esc_due_at"] is None


def test_acknowledgement_stops_paging_but_not_the_unresolved_escalation(clean_alerts, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    alert_id = raise_tachycardia(db, band, T0)
    alerts.acknowledge(db, alert_id=alert_id, actor="duty:wang", now=T0 + timedelta(minutes=10))
    escalation.run_due(db, now=T0 + timedelta(hours=2))
    assert [s for s, _ in queued(db, alert_id)] == [0]  # director not paged
    escalation.run_due(db, now=T0 + timedelta(hours=24))
    assert [s for s, _ in queued(db, alert_id)] == [0, 4]  # street: still unresolved
    alerts.resolve(
        db,
        alert_id=alert_id,
        actor="duty:wang",
        resolution="seen by GP",
        now=T0 + timedelta(hours=25),
    )
    kinds = [(e["kind"], e["actor"]) for e in alerts.timeline(db, alert_id=alert_id)]
    assert ("acknowledged", "duty:wang") in kinds and ("resolved", "duty:wang") in kinds


def test_resolution_stops_everything(clean_alerts, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    alert_id = raise_tachycardia(db, band, T0)
    alerts.resolve(
        db,
        alert_id=alert_id,
        actor="duty:li",
        resolution="false reading",
        now=T0 + timedelta(minutes=5),
    )
    escalation.run_due(db, now=T0 + timedelta(days=2))
    assert len(queued(db, alert_id)) == 1
    with pytest.raises(alerts.InvalidTransition):
        alerts.acknowledge(db, alert_id=alert_id, actor="x", now=T0 + timedelta(minutes=6))


def test_repeat_and_severity_never_hidden(clean_alerts, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band, disabled=True)
    first = raise_tachycardia(db, band, T0)
    finding = Finding(
        rule="tachycardia",
        device_id=band,
        severity=4,
        title="x",
        observed_at_ms=int((T0 + timedelta(minutes=2)).timestamp() * 1000),
    )
    assert alerts.apply_finding(db, finding=finding, now=T0 + timedelta(minutes=2)) == first
    lower = Finding(
        rule="tachycardia",
        device_id=band,
        severity=2,
        title="x",
        observed_at_ms=int((T0 + timedelta(minutes=3)).timestamp() * 1000),
    )
    alerts.apply_finding(db, finding=lower, now=T0 + timedelta(minutes=3))
    alert = alerts.get(db, alert_id=first)
    assert (alert["severity"], alert["occurrences"], alert["priority"]) == (4, 3, 1)
    assert "severity_raised" in [e["kind"] for e in alerts.timeline(db, alert_id=first)]


def test_watchdog_raises_its_own_alert_when_a_step_is_overdue(clean_alerts, new_band_ids):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    raise_tachycardia(db, band, T0)
    assert watchdog.check_overdue(db, now=T0 + timedelta(minutes=61), grace_s=120) is None
    # Escalation did not run for a while (engine down): the watchdog notices.
    own = watchdog.check_overdue(db, now=T0 + timedelta(minutes=63), grace_s=120)
    assert alerts.get(db, alert_id=own)["rule"] == "escalation_overdue"


def test_sos_reaches_console_family_and_120_signed_with_documented_payload(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    (band,) = new_band_ids(1)
    resident = make_resident(db, band, full_name="Zhang Guilan", medical_notes="warfarin; AF")
    add_contact(db, resident)
    console_key = f"{settings.redis_prefix}alerts:console"
    before = redis_client.xrevrange(console_key, count=1)  # the stream is shared by the session
    engine = Engine(settings)
    engine.refresh(db, now=T0)
    event = insert_event(db, band, "b-1", "sos", T0, *HOME, 8.0)
    apply_findings(db, engine.findings_from_events([event]), now=T0)
    Dispatcher(settings, redis_client).run_once(db, now=T0)
    (call,) = recv["g120"].received
    secret = settings.alerting_gateway_120_secret.get_secret_value().encode()
    expected = "sha256=" + hmac.new(secret, call.body, hashlib.sha256).hexdigest()
    assert call.headers["X-Eldercare-Signature"] == expected
    payload = call.json
    jsonschema.validate(payload, json.loads(SCHEMA.read_text()))
    assert payload["resident"]["name"] == "Zhang Guilan"
    assert payload["resident"]["age"] == 85
    assert payload["location"]["wgs84"] == {"lat": HOME[0], "lon": HOME[1]}
    assert payload["location"]["gcj02"]["lat"] != HOME[0]
    assert payload["emergency_contacts"][0]["phone"] == "13900000001"
    assert len(recv["family"].received) == 1 and len(recv["community"].received) == 1
    console = redis_client.xrange(console_key, min=b"(" + before[0][0] if before else "-")
    assert len(console) == 1
    changes = redis_client.xrange(f"{settings.redis_prefix}alerts:changes")
    assert any(json.loads(f[b"data"])["kind"] == "opened" for _, f in changes)


def test_120_never_gets_a_position_from_the_bands_previous_wearer(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band, full_name="Previous Wearer")
    elsewhere = (HOME[0] + 0.05, HOME[1] + 0.05)  # about 7 km away
    insert_fixes(db, band, [T0 - timedelta(hours=2)], [elsewhere[0]], [elsewhere[1]], [10.0])
    resident = make_resident(db, full_name="New Wearer")
    db.execute(
        "UPDATE devices SET resident_id = %s, bound_at = %s WHERE device_id = %s",
        (resident, T0 - timedelta(hours=1), band),
    )
    engine = Engine(settings)
    engine.refresh(db, now=T0)
    event = insert_event(db, band, "b-rebound", "sos", T0)  # pressed with no fix of its own
    apply_findings(db, engine.findings_from_events([event]), now=T0)
    Dispatcher(settings, redis_client).run_once(db, now=T0)
    (call,) = recv["g120"].received
    assert call.json["resident"]["name"] == "New Wearer"
    assert call.json["location"] is None  # not the previous wearer's last fix


def test_gateway_down_for_ten_minutes_everything_delivered_when_it_returns(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    bands = new_band_ids(3)
    for band in bands:
        make_resident(db, band)
        raise_tachycardia(db, band, T0)
    recv["community"].status = 503
    dispatcher = Dispatcher(settings, redis_client)
    now = T0
    while now < T0 + timedelta(minutes=10):
        dispatcher.run_once(db, now=now, channels=("community_gateway",))
        now += timedelta(seconds=15)
    assert recv["community"].received  # it was tried, and kept being tried
    recv["community"].status = 200
    back = now
    while now < back + timedelta(seconds=settings.alerting_retry_max_s + 1):
        dispatcher.run_once(db, now=now, channels=("community_gateway",))
        now += timedelta(seconds=5)
    left = db.execute(
        "SELECT count(*) FROM outbox WHERE channel = 'community_gateway' AND status <> 'delivered'"
    ).fetchone()[0]
    assert left == 0
    delivered_keys = {r.headers["Idempotency-Key"] for r in recv["community"].received}
    assert len(delivered_keys) == 3


def test_client_error_is_recorded_as_failed_and_not_retried(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    alert_id = raise_tachycardia(db, band, T0)
    recv["community"].status = 400
    dispatcher = Dispatcher(settings, redis_client)
    for minute in range(5):
        dispatcher.run_once(db, now=T0 + timedelta(minutes=minute), channels=("community_gateway",))
    assert len(recv["community"].received) == 1
    assert "delivery_failed" in [e["kind"] for e in alerts.timeline(db, alert_id=alert_id)]


def test_sos_queued_during_a_long_pass_is_sent_next_before_higher_priority_pages(
    clean_alerts, new_band_ids, gateways, redis_client, database_url
):
    settings, recv = gateways
    db = clean_alerts
    bands = new_band_ids(13)
    for band in bands[:-1]:
        # Priority 1, above the SOS of a resident without risk flags (priority 2).
        make_resident(db, band, living_alone=True, disabled=True)
        raise_tachycardia(db, band, T0)
    make_resident(db, bands[-1])
    engine = Engine(settings)
    engine.refresh(db, now=T0)
    recv["community"].on_request = lambda: time.sleep(0.1)  # a slow gateway
    start = time.monotonic()

    def clock():
        return T0 + timedelta(seconds=time.monotonic() - start)

    def one_pass():
        with psycopg.connect(database_url, autocommit=True) as conn:
            dispatcher = Dispatcher(settings, redis_client)
            dispatcher.run_once(conn, now=clock(), channels=("community_gateway",))

    thread = threading.Thread(target=one_pass)
    thread.start()
    wait_until(lambda: len(recv["community"].received) >= 3, timeout_s=30, interval_s=0.005)
    sos = insert_event(db, bands[-1], "mid-pass", "sos", T0)
    apply_findings(db, engine.findings_from_events([sos]), now=clock())
    pages_before = len(recv["community"].received)  # the one in flight included
    thread.join()
    rules = [r.json["alert"]["rule"] for r in recv["community"].received]
    assert "sos" in rules, "the SOS waited for the next pass"
    assert rules.index("sos") <= pages_before + 1  # next, or after a row already picked
    assert rules[rules.index("sos") + 1 :].count("tachycardia") >= 5


def test_redirect_is_retried_until_the_gateway_accepts(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    alert_id = raise_tachycardia(db, band, T0)
    answers = iter([307, 200])
    recv["community"].on_request = lambda: setattr(recv["community"], "status", next(answers))
    dispatcher = Dispatcher(settings, redis_client)
    for s in (0, 1 + settings.alerting_retry_max_s):
        dispatcher.run_once(db, now=T0 + timedelta(seconds=s), channels=("community_gateway",))
    assert len(recv["community"].received) == 2
    status = db.execute("SELECT status FROM outbox WHERE channel = 'community_gateway'").fetchone()
    assert status == ("delivered",)
    assert "delivery_failed" not in [e["kind"] for e in alerts.timeline(db, alert_id=alert_id)]


DISPATCH_ONCE = """
import sys
from datetime import datetime
import psycopg, redis
from alerting.dispatcher import Dispatcher
from eldercare.settings import Settings
settings = Settings.model_validate_json(sys.argv[1])
with psycopg.connect(settings.database_url.get_secret_value(), autocommit=True) as conn:
    Dispatcher(settings, redis.Redis.from_url(settings.redis_url.get_secret_value())).run_once(
        conn, now=datetime.fromisoformat(sys.argv[2]), channels=("gateway_120",))
"""


@pytest.mark.slow
def test_dispatcher_killed_between_send_and_record_resends_same_key(
    clean_alerts, new_band_ids, gateways, redis_client, repo_root
):
    settings, recv = gateways
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    engine = Engine(settings)
    engine.refresh(db, now=T0)
    event = insert_event(db, band, "b-kill", "fall", T0, *HOME, 5.0)
    apply_findings(db, engine.findings_from_events([event]), now=T0)
    got_it = []
    recv["g120"].on_request = lambda: (got_it.append(1), time.sleep(3))
    dump = json.dumps(
        {
            k: (v.get_secret_value() if hasattr(v, "get_secret_value") else v)
            for k, v in dict(settings).items()
        },
        default=str,
    )
    child = subprocess.Popen(
        [sys.executable, "-c", DISPATCH_ONCE, dump, T0.isoformat()],
        cwd=repo_root,
        env=os.environ.copy(),
    )
    wait_until(lambda: got_it, timeout_s=20)  # the receiver got the first send
    child.send_signal(signal.SIGKILL)  # sent, not yet recorded
    child.wait()
    recv["g120"].on_request = None
    Dispatcher(settings, redis_client).run_once(
        db, now=T0 + timedelta(seconds=1), channels=("gateway_120",)
    )
    keys = recv["g120"].keys()
    assert len(keys) == 2 and keys[0] == keys[1]
    status = db.execute("SELECT status FROM outbox WHERE channel = 'gateway_120'").fetchall()
    assert status == [("delivered",)]


def offline(db, bands, now):
    """Each band's offline finding applied at `now`; return the alert ids."""
    return [
        alerts.apply_finding(
            db,
            finding=Finding(
                rule="device_offline",
                device_id=band,
                severity=2,
                title="Band offline",
                observed_at_ms=int(now.timestamp() * 1000),
            ),
            now=now,
        )
        for band in bands
    ]


def test_offline_storm_is_one_grouped_notification_and_sos_is_never_grouped(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    bands = new_band_ids(60)
    for band in bands:
        make_resident(db, band)
    offline(db, bands[:-1], T0)
    engine = Engine(settings)
    engine.refresh(db, now=T0)
    sos = insert_event(db, bands[-1], "s-1", "sos", T0)
    apply_findings(db, engine.findings_from_events([sos]), now=T0)
    dispatcher = Dispatcher(settings, redis_client)
    dispatcher.run_once(db, now=T0)
    community = [r.json for r in recv["community"].received]
    assert [c["alert"]["rule"] for c in community] == ["sos"]  # SOS at once, alone
    dispatcher.run_once(db, now=T0 + timedelta(seconds=31))
    grouped = [r.json for r in recv["community"].received[1:]]
    assert len(grouped) == 1 and grouped[0]["grouped"] and grouped[0]["count"] == 59


def test_failed_storm_message_is_recorded_on_every_member_alert(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    bands = new_band_ids(6)
    for band in bands:
        make_resident(db, band)
    alert_ids = offline(db, bands, T0)
    recv["community"].status = 400
    dispatcher = Dispatcher(settings, redis_client)
    dispatcher.run_once(db, now=T0 + timedelta(seconds=31), channels=("community_gateway",))
    (call,) = recv["community"].received
    assert call.json["grouped"] and call.json["count"] == 6
    for alert_id in alert_ids:
        failed = [
            e for e in alerts.timeline(db, alert_id=alert_id) if e["kind"] == "delivery_failed"
        ]
        assert [e["data"]["channel"] for e in failed] == ["community_gateway"]


def test_outage_reported_over_many_ticks_is_one_grouped_page_and_sos_goes_at_once(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    bands = new_band_ids(41)
    for band in bands:
        make_resident(db, band)  # all in one grid
    engine = Engine(settings)
    engine.refresh(db, now=T0)
    console = f"{settings.redis_prefix}alerts:console"
    console_before = redis_client.xlen(console)
    dispatcher = Dispatcher(settings, redis_client)
    for wave in range(8):  # one engine tick after another finds 5 more bands silent
        now = T0 + timedelta(seconds=4 * wave)
        offline(db, bands[5 * wave : 5 * wave + 5], now)
        if wave == 4:
            sos = insert_event(db, bands[-1], "storm-sos", "sos", now)
            apply_findings(db, engine.findings_from_events([sos]), now=now)
        dispatcher.run_once(db, now=now)
        if wave == 4:
            assert [r.json["alert"]["rule"] for r in recv["community"].received] == ["sos"]
    for s in range(30, 90, 2):
        dispatcher.run_once(db, now=T0 + timedelta(seconds=s))
    pages = [r.json for r in recv["community"].received]
    assert len(pages) == 2 and pages[1]["grouped"] and pages[1]["count"] == 40
    to_console = redis_client.xrange(console)[console_before:]
    assert [json.loads(f[b"data"]).get("count") for _, f in to_console] == [None, 40]


def test_second_sos_press_on_an_acknowledged_alert_pages_again_but_not_120(
    clean_alerts, new_band_ids, settings
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    resident = make_resident(db, band)
    add_contact(db, resident)
    engine = Engine(settings)
    engine.refresh(db, now=T0)
    first = insert_event(db, band, "p-1", "sos", T0, *HOME, 8.0)
    (alert_id,) = apply_findings(db, engine.findings_from_events([first]), now=T0)
    alerts.acknowledge(db, alert_id=alert_id, actor="duty:zhao", now=T0 + timedelta(minutes=1))
    later = T0 + timedelta(minutes=20)
    second = insert_event(db, band, "p-2", "sos", later, *HOME, 8.0)
    apply_findings(db, engine.findings_from_events([second]), now=later)
    rows = db.execute(
        "SELECT channel FROM outbox WHERE idempotency_key LIKE %s ORDER BY channel",
        (f"alert-{alert_id}-event-p-2-%",),
    ).fetchall()
    assert [r[0] for r in rows] == ["community_gateway", "console", "family_gateway"]
    assert (
        db.execute("SELECT count(*) FROM outbox WHERE channel = 'gateway_120'").fetchone()[0] == 1
    )
    assert alerts.get(db, alert_id=alert_id)["occurrences"] == 2


def cancelled(db, alert_id):
    return sorted(
        e["data"]["channel"]
        for e in alerts.timeline(db, alert_id=alert_id)
        if e["kind"] == "notification_cancelled"
    )


def test_page_still_queued_when_the_alert_is_acknowledged_is_not_sent(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    alert_id = raise_tachycardia(db, band, T0)  # standard: step 0 stops on acknowledgement
    alerts.acknowledge(db, alert_id=alert_id, actor="duty:wang", now=T0 + timedelta(seconds=1))
    console = f"{settings.redis_prefix}alerts:console"
    console_before = redis_client.xlen(console)
    Dispatcher(settings, redis_client).run_once(db, now=T0 + timedelta(seconds=2))
    assert recv["community"].received == [] and redis_client.xlen(console) == console_before
    assert cancelled(db, alert_id) == ["community_gateway", "console"]
    changes = redis_client.xrange(f"{settings.redis_prefix}alerts:changes")
    kinds = [json.loads(f[b"data"])["kind"] for _, f in changes]
    assert "acknowledged" in kinds  # the change stream is never cancelled


def test_acknowledged_sos_still_reaches_120_but_a_resolved_one_does_not(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    bands = new_band_ids(2)
    for band in bands:
        add_contact(db, make_resident(db, band))
    engine = Engine(settings)
    engine.refresh(db, now=T0)
    events = [insert_event(db, band, f"ar-{band}", "sos", T0, *HOME, 8.0) for band in bands]
    acked, resolved = apply_findings(db, engine.findings_from_events(events), now=T0)
    later = T0 + timedelta(seconds=5)
    alerts.acknowledge(db, alert_id=acked, actor="duty:zhao", now=later)
    alerts.resolve(
        db, alert_id=resolved, actor="duty:zhao", resolution="pressed by mistake", now=later
    )
    Dispatcher(settings, redis_client).run_once(db, now=later)
    for name in ("g120", "family", "community"):  # the SOS step stops on resolution only
        assert [
            r.json["alert_id"] if name == "g120" else r.json["alert"]["alert_id"]
            for r in recv[name].received
        ] == [acked]
    assert cancelled(db, resolved) == [
        "community_gateway",
        "console",
        "family_gateway",
        "gateway_120",
    ]


def test_offline_alerts_resolved_while_held_drop_out_of_the_storm_message(
    clean_alerts, new_band_ids, gateways, redis_client
):
    settings, recv = gateways
    db = clean_alerts
    bands = new_band_ids(7)
    for band in bands:
        make_resident(db, band)
    back_online = offline(db, bands, T0)[:2]
    for alert_id in back_online:
        alerts.resolve(db, alert_id=alert_id, actor="engine", resolution="heard again", now=T0)
    dispatcher = Dispatcher(settings, redis_client)
    dispatcher.run_once(db, now=T0 + timedelta(seconds=31), channels=("community_gateway",))
    (call,) = recv["community"].received
    assert call.json["count"] == 5
    assert {a["alert_id"] for a in call.json["alerts"]}.isdisjoint(back_online)


def test_purge_keeps_recent_and_undelivered_outbox_rows(clean_alerts, new_band_ids):
    from alerting.dispatcher import purge_delivered

    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    raise_tachycardia(db, band, T0)
    db.execute("UPDATE outbox SET status = 'delivered' WHERE channel = 'console'")
    total = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert purge_delivered(db, now=T0 + timedelta(days=29)) == 0
    assert purge_delivered(db, now=T0 + timedelta(days=31)) == 1
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == total - 1
