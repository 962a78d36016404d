"""Resolved alerts and the audit log are kept by their own retention rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerting.alerts.retention import purge_resolved_alerts
from api.audit.retention import purge_expired_audit


def test_alerts_resolved_past_retention_are_deleted_open_and_recent_ones_kept(
    db, bind_band, make_resident, open_alert
):
    band = bind_band(make_resident())
    old_resolved, old_open, recent_resolved = (
        open_alert(band, rule=rule) for rule in ("tachycardia", "bradycardia", "hypotension")
    )
    now = datetime.now(UTC)
    db.execute(
        """UPDATE alerts SET status = 'resolved', resolved_at = %s
           WHERE alert_id = ANY(%s)""",
        (now - timedelta(days=400), [old_resolved]),
    )
    db.execute(
        "UPDATE alerts SET status = 'resolved', resolved_at = %s WHERE alert_id = %s",
        (now - timedelta(days=10), recent_resolved),
    )
    db.execute(
        "UPDATE alerts SET opened_at = %s WHERE alert_id = %s",
        (now - timedelta(days=400), old_open),
    )
    assert purge_resolved_alerts(conn=db, retention_days=365, now=now) >= 1
    left = db.execute(
        "SELECT alert_id FROM alerts WHERE alert_id = ANY(%s) ORDER BY alert_id",
        ([old_resolved, old_open, recent_resolved],),
    ).fetchall()
    assert left == [(old_open,), (recent_resolved,)]
    timeline = "SELECT count(*) FROM alert_events WHERE alert_id = %s"
    assert db.execute(timeline, (old_resolved,)).fetchone() == (0,)


def test_audit_entries_past_retention_are_deleted(db, make_actor, make_resident):
    reader, resident = make_actor("duty_staff"), make_resident()
    now = datetime.now(UTC)
    for days in (1200, 10):
        db.execute(
            """INSERT INTO audit_log (at, account_id, role, resident_id, action, purpose)
               VALUES (%s, %s, 'duty_staff', %s, 'vitals.history', 'care')""",
            (now - timedelta(days=days), reader.account_id, resident),
        )
    purge_expired_audit(conn=db, retention_days=3 * 365, now=now)
    kept = db.execute(
        "SELECT at FROM audit_log WHERE account_id = %s", (reader.account_id,)
    ).fetchall()
    assert [now - at for (at,) in kept] == [timedelta(days=10)]
