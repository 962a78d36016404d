"""The live stream of alert changes (SSE): delivery, scope, dedupe, resume, cookie auth."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from alerting.alerts.service import acknowledge, add_note


def _read_events(lines, *, until, timeout_s: float = 10.0) -> tuple[list[dict], int]:
    """Parse SSE from `lines` until `until(event)` holds; return events and keep-alives seen."""
    events, keepalives, current = [], 0, {}
    deadline = time.monotonic() + timeout_s
    for line in lines:
        if time.monotonic() > deadline:
            break
        if line.startswith(": keep-alive"):
            keepalives += 1
        elif line.startswith(("id:", "event:", "data:")):
            name, _, value = line.partition(":")
            current[name] = value.strip()
        elif line == "" and "data" in current:
            event = {"id": current["id"], **orjson.loads(current["data"])}
            events.append(event)
            current = {}
            if until(event):
                return events, keepalives
    pytest.fail(f"the awaited event did not arrive; got {events}")


@pytest.fixture
def stream_world(alert_world, deliver_changes):
    deliver_changes()  # the opening entries predate every connection below
    return alert_world


def test_stream_sends_changes_made_after_connecting_only_for_alerts_in_reach(
    live_api, stream_world, db, deliver_changes, redis_client, api_settings
):
    w = stream_world
    a, b = w["alert_a"], w["alert_b"]
    key = f"{api_settings.redis_prefix}alerts:changes"
    with (
        httpx.Client(base_url=live_api, timeout=10) as http,
        http.stream("GET", "/alerts/stream", headers=w["worker_a"].headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines).startswith("retry:")
        acknowledge(db, alert_id=b, actor="test", now=datetime.now(UTC))  # grid B: not theirs
        acknowledge(db, alert_id=a, actor="test", now=datetime.now(UTC))
        deliver_changes()
        # At-least-once delivery: the same change arrives twice; the console sees it once.
        newest_id, fields = redis_client.xrevrange(key, count=1)[0]
        redis_client.xadd(key, fields)
        time.sleep(1.5)  # long enough for a keep-alive comment
        add_note(db, alert_id=a, actor="test", text="on my way", now=datetime.now(UTC))
        deliver_changes()
        events, keepalives = _read_events(lines, until=lambda e: e["change"]["kind"] == "note")
    kinds = [(e["change"]["alert_id"], e["change"]["kind"]) for e in events]
    assert kinds == [(a, "acknowledged"), (a, "note")]
    assert events[0]["alert"]["status"] == "acknowledged"
    assert "lat" not in events[0]["alert"]
    assert keepalives >= 1

    # Resuming after the acknowledgement's id replays only what came later.
    resume = {**w["duty"].headers, "Last-Event-ID": events[0]["id"]}
    with (
        httpx.Client(base_url=live_api, timeout=10) as http,
        http.stream("GET", "/alerts/stream", headers=resume) as response,
    ):
        replay, _ = _read_events(
            response.iter_lines(), until=lambda e: e["change"]["kind"] == "note"
        )

    def entry(event_id: str) -> tuple[int, int]:
        ms, seq = event_id.split("-")
        return int(ms), int(seq)

    assert all(entry(e["id"]) > entry(events[0]["id"]) for e in replay)
    assert replay[-1]["change"]["alert_id"] == a


def test_stream_opens_with_the_session_cookie_and_refuses_without_credentials(
    live_api, stream_world
):
    with httpx.Client(base_url=live_api, timeout=10) as http:
        assert http.get("/alerts/stream").status_code == 401
        assert http.get("/alerts/stream", headers=stream_world["fam_a"].headers).status_code == 403
        assert (
            http.post("/alerts/stream/session", headers=stream_world["duty"].headers).status_code
            == 204
        )
        with http.stream("GET", "/alerts/stream") as response:  # the cookie alone
            assert response.status_code == 200
            assert next(response.iter_lines()).startswith("retry:")
        bad = http.get("/alerts/stream", headers={"Last-Event-ID": "x; DROP"})
        assert bad.status_code == 422


def _streams_of_earlier_tests_ended(state) -> int:
    """Open streams once earlier tests' have ended (the server sees a client gone only at its
    next keep-alive), so one closing during the test cannot cancel out the one it opens."""
    deadline = time.monotonic() + 10
    while getattr(state, "open_alert_streams", 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    return getattr(state, "open_alert_streams", 0)


def test_stream_ends_when_the_client_goes_away(live_api, stream_world, live_api_app):
    state = live_api_app.state
    before = _streams_of_earlier_tests_ended(state)
    assert before == 0, "an earlier test's stream is still open on the server"
    with (
        httpx.Client(base_url=live_api, timeout=10) as http,
        http.stream("GET", "/alerts/stream", headers=stream_world["duty"].headers) as response,
    ):
        assert next(response.iter_lines()).startswith("retry:")
        # Counted on the server's loop: a deadline, not a single read from this thread.
        opened_by = time.monotonic() + 5
        while state.open_alert_streams != before + 1 and time.monotonic() < opened_by:
            time.sleep(0.05)
        assert state.open_alert_streams == before + 1
    deadline = time.monotonic() + 6
    while state.open_alert_streams > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state.open_alert_streams == before


def test_disabling_an_account_ends_its_stream(live_api, stream_world, make_actor, db):
    duty = make_actor("duty_staff")
    with httpx.Client(base_url=live_api, timeout=10) as http:
        with http.stream("GET", "/alerts/stream", headers=duty.headers) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("retry:")
            db.execute(
                "UPDATE accounts SET disabled = true WHERE account_id = %s", (duty.account_id,)
            )
            started, rest, ended = time.monotonic(), [], True
            for line in lines:  # keep-alives every second let the deadline be checked
                rest.append(line)
                if time.monotonic() - started > 5:
                    ended = False
                    break
        assert ended, "the stream outlived the account being disabled"
        assert not any(line.startswith("data:") for line in rest)
        assert http.get("/alerts/stream", headers=duty.headers).status_code == 401
