"""Findings -> alerts against the real database: what a raise, a repeat or late data changes."""

from __future__ import annotations

from datetime import timedelta

from alerting.alerts import escalation, watchdog
from alerting.alerts import service as alerts
from alerting.engine import apply_findings
from alerting.rules.common import CRITICAL, HIGH, Finding
from tests.alerting.factories import HOME, T0, insert_event, make_resident


def finding(band, rule, at, severity, **fields) -> Finding:
    ms = int(at.timestamp() * 1000)
    return Finding(rule=rule, device_id=band, observed_at_ms=ms, severity=severity, **fields)


def pages(db, alert_id) -> list[str]:
    """Idempotency keys of the notifications queued for the alert, oldest first."""
    rows = db.execute(
        """SELECT idempotency_key FROM outbox WHERE alert_id = %s AND channel <> 'changes'
           ORDER BY outbox_id""",
        (alert_id,),
    ).fetchall()
    return [r[0] for r in rows]


def test_crisis_going_critical_reopens_the_acknowledged_alert_and_pages_again(
    clean_alerts, new_band_ids
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    alert_id = alerts.apply_finding(
        db, finding=finding(band, "hypertensive_crisis", T0, HIGH), now=T0
    )
    alerts.acknowledge(db, alert_id=alert_id, actor="duty:wang", now=T0 + timedelta(minutes=5))
    escalation.run_due(db, now=T0 + timedelta(hours=1, minutes=1))  # director step skipped
    before = pages(db, alert_id)
    raised_at = T0 + timedelta(hours=2)
    critical = finding(band, "hypertensive_crisis", raised_at, CRITICAL)  # SBP >= 220
    alerts.apply_finding(db, finding=critical, now=raised_at)
    alert = alerts.get(db, alert_id=alert_id)
    assert (alert["severity"], alert["status"], alert["acknowledged_by"]) == (4, "open", None)
    assert pages(db, alert_id)[len(before) :] == [
        f"alert-{alert_id}-severity-4-duty_console",
        f"alert-{alert_id}-severity-4-grid_worker",
    ]
    # Open again, the ladder applies again: the director hears an hour later if nobody answers.
    escalation.run_due(db, now=raised_at + timedelta(hours=1, seconds=1))
    assert pages(db, alert_id)[-1] == f"alert-{alert_id}-step-2-rep-1-community_director"
    # The same severity again pages nobody twice.
    count = len(pages(db, alert_id))
    again = finding(band, "hypertensive_crisis", raised_at + timedelta(minutes=1), CRITICAL)
    alerts.apply_finding(db, finding=again, now=raised_at + timedelta(minutes=1))
    assert len(pages(db, alert_id)) == count
    kinds = [e["kind"] for e in alerts.timeline(db, alert_id=alert_id)]
    assert kinds.count("severity_raised") == 1 and kinds.count("queued") == 3


def test_critical_reading_taken_before_a_resolution_but_uploaded_after_opens_an_alert(
    clean_alerts, new_band_ids
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    first = alerts.apply_finding(db, finding=finding(band, "hypertensive_crisis", T0, HIGH), now=T0)
    alerts.resolve(
        db,
        alert_id=first,
        actor="duty:li",
        resolution="BP rechecked",
        now=T0 + timedelta(minutes=30),
    )
    uploaded = T0 + timedelta(minutes=40)  # the band was out of reach for a while
    taken = T0 + timedelta(minutes=20)
    lesser = finding(band, "hypertensive_crisis", taken, HIGH)
    assert alerts.apply_finding(db, finding=lesser, now=uploaded) is None  # what was resolved
    worse = finding(band, "hypertensive_crisis", taken, CRITICAL)
    second = alerts.apply_finding(db, finding=worse, now=uploaded)
    assert second not in (None, first)
    alert = alerts.get(db, alert_id=second)
    assert (alert["status"], alert["severity"]) == ("open", CRITICAL)


def test_watchdog_repeat_is_on_the_timeline_and_pages_when_other_alerts_fall_behind(
    clean_alerts, new_band_ids
):
    db = clean_alerts
    first_band, second_band = new_band_ids(2)
    for band, opened in ((first_band, T0), (second_band, T0 + timedelta(minutes=5))):
        make_resident(db, band)
        alerts.apply_finding(db, finding=finding(band, "tachycardia", opened, HIGH), now=opened)
    own = watchdog.check_overdue(db, now=T0 + timedelta(minutes=63), grace_s=120)
    assert len(pages(db, own)) == 1  # the duty console
    # The same alert still late: on the timeline (and the console's change stream), no page.
    watchdog.check_overdue(db, now=T0 + timedelta(minutes=64), grace_s=120)
    assert len(pages(db, own)) == 1
    kinds = [e["kind"] for e in alerts.timeline(db, alert_id=own)]
    assert kinds == ["opened", "queued", "repeated"]
    changes = db.execute(
        "SELECT payload->>'kind' FROM outbox WHERE alert_id = %s AND channel = 'changes'",
        (own,),
    ).fetchall()
    assert ("repeated",) in changes
    # Another alert falls behind: the console is paged again.
    assert watchdog.check_overdue(db, now=T0 + timedelta(minutes=68), grace_s=120) == own
    assert pages(db, own)[-1] == f"alert-{own}-repeat-3-duty_console"
    assert len(alerts.get(db, alert_id=own)["details"]["alert_ids"]) == 2


def test_second_sos_press_somewhere_else_moves_the_alert_to_where_the_person_is_now(
    clean_alerts, engine, new_band_ids
):
    db = clean_alerts
    (band,) = new_band_ids(1)
    make_resident(db, band)
    engine.refresh(db, now=T0)
    first = insert_event(db, band, "m-1", "sos", T0, *HOME, 8.0)
    (alert_id,) = apply_findings(db, engine.findings_from_events([first]), now=T0)
    park = (HOME[0] + 0.004, HOME[1] + 0.003)  # walked to the park, pressed again
    later = T0 + timedelta(minutes=15)
    second = insert_event(db, band, "m-2", "sos", later, *park, 15.0)
    apply_findings(db, engine.findings_from_events([second]), now=later)
    alert = alerts.get(db, alert_id=alert_id)
    assert (alert["lat"], alert["lon"], alert["acc_m"]) == (park[0], park[1], 15.0)
    (repeat,) = [e for e in alerts.timeline(db, alert_id=alert_id) if e["kind"] == "repeated"]
    assert repeat["data"]["position_updated"] is True
    assert str(park[0]) not in str(repeat["data"])  # the timeline is not an audited read
