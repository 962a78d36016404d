"""The escalation watchdog watches requests' ladders too: a request whose due step did not
run in time raises the same console system alert as a late alert's step."""

from __future__ import annotations

from datetime import timedelta

from alerting import request_ladder
from alerting.alerts import service as alerts
from alerting.alerts import watchdog
from tests.api.requests.world import T0, open_as_family


def _console_pages(db, alert_id: int) -> int:
    return db.execute(
        "SELECT count(*) FROM outbox WHERE alert_id = %s AND channel = 'console'", (alert_id,)
    ).fetchone()[0]


def _reported(db, now) -> tuple[int | None, list[int]]:
    own = watchdog.check_overdue(db, now=now, grace_s=120)
    if own is None:
        return None, []
    return own, alerts.get(db, alert_id=own)["details"]["request_ids"]


def test_request_whose_director_step_did_not_run_raises_the_watchdog_alert(api, world, db):
    request_id = open_as_family(api, world)["request_id"]
    # The director's step is due at 1 h; within the grace nothing is reported.
    _, late = _reported(db, T0 + timedelta(minutes=61))
    assert request_id not in late
    # The escalation loop did not run (alerting down): the watchdog notices.
    own, late = _reported(db, T0 + timedelta(minutes=63))
    assert own is not None and request_id in late
    alert = alerts.get(db, alert_id=own)
    assert alert["rule"] == "escalation_overdue" and alert["status"] == "open"
    assert _console_pages(db, own) >= 1
    # The step runs at last: the request drops out of the watchdog's list.
    request_ladder.run_due(db, now=T0 + timedelta(minutes=64))
    _, late = _reported(db, T0 + timedelta(minutes=65))
    assert request_id not in late
