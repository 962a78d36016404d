"""The demo community `eldercare run` seeds: idempotent, development only, alerts in a minute."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid

import httpx
import pytest

from api.demo import DemoBand, DemoRefused, seed_demo_community
from eldercare.cli import WATCH_FLEET_FIRST_SERIAL
from simulators.fleet import fleet_device_ids
from tests.api.conftest import ARTEFACTS
from tests.api.test_console_browser import _wait_for, log_in_in_chinese
from tests.support import services
from tests.support.processes import spawn_service

DEMO_PASSWORD = "dev-demo-password"  # noqa: S105 - the documented development default
EXPECTED_WITHIN_60_S = {"sos", "fall", "tachycardia", "geofence_exit"}


def _counts(db, device_ids: list[str]) -> dict[str, int]:
    row = db.execute(
        """SELECT count(*),
                  (SELECT count(*) FROM emergency_contacts c WHERE c.resident_id = ANY(
                      array_agg(d.resident_id))),
                  (SELECT count(*) FROM family_links f WHERE f.withdrawn_at IS NULL
                      AND f.resident_id = ANY(array_agg(d.resident_id))),
                  (SELECT count(*) FROM geofences g WHERE g.resident_id = ANY(
                      array_agg(d.resident_id))),
                  (SELECT count(*) FROM residents r WHERE r.resident_id = ANY(
                      array_agg(d.resident_id)) AND (r.living_alone OR r.disabled OR r.low_income))
           FROM devices d WHERE d.device_id = ANY(%s) AND d.resident_id IS NOT NULL""",
        (device_ids,),
    ).fetchone()
    return dict(zip(("bound", "contacts", "family", "fences", "at_risk"), row, strict=True))


def test_demo_seed_binds_every_band_once_and_refuses_outside_development(
    settings, db, new_band_ids
) -> None:
    ids = new_band_ids(8)
    bands = [DemoBand(d, 41.1 + i / 1000, 122.99) for i, d in enumerate(ids)]
    for environment in ("test", "production"):
        with pytest.raises(DemoRefused), db.transaction():
            seed_demo_community(
                db, settings.model_copy(update={"environment": environment}), bands, 500.0
            )
    assert _counts(db, ids)["bound"] == 0

    development = settings.model_copy(update={"environment": "development"})
    assert seed_demo_community(db, development, bands, 500.0) == 8
    first = _counts(db, ids)
    assert first == {
        "bound": 8,
        "contacts": 16,
        "family": 8,
        "fences": 8,
        "at_risk": first["at_risk"],
    }
    assert first["at_risk"] >= 3
    assert seed_demo_community(db, development, bands, 500.0) == 0  # idempotent
    assert _counts(db, ids) == first
    roles = db.execute(
        """SELECT a.role, count(DISTINCT g.grid_id) FROM accounts a
           JOIN account_grids g USING (account_id)
           WHERE a.username IN ('grid1', 'grid2', 'director1', 'director2') GROUP BY a.role"""
    ).fetchall()
    assert sorted(roles) == [("community_director", 2), ("grid_worker", 2)]


@pytest.mark.timeout(300)
def test_run_shows_sos_fall_tachycardia_and_geofence_exit_within_60_s(
    settings, postgres_admin_url, tmp_path, chromium_page
) -> None:
    # Its own broker: the demo fleet's messages left in the session broker's ingest queue
    # would reach every later ingest test (as unknown bands' dead letters).
    state_dir = tmp_path / "broker"
    state_dir.mkdir()
    state_dir.chmod(0o755)
    broker = services.ThrowawayBroker(state_dir=state_dir)
    broker.start()
    database_url = services.create_database(postgres_admin_url)
    port = services.free_port()
    log_path = tmp_path / "run.log"
    began = time.monotonic()
    run = spawn_service(
        settings,
        "run",
        "--bands",
        "50",
        log_path=log_path,
        environment="development",
        database_url=database_url,
        redis_prefix=f"demo-{uuid.uuid4().hex[:8]}:",
        ingest_client_id=f"ingest-demo-{uuid.uuid4().hex[:8]}",
        alerting_consumer_name=f"alerting-demo-{uuid.uuid4().hex[:8]}",
        api_port=str(port),
        amqp_url=broker.amqp_url("ingest"),
        simulator_mqtt_url=broker.url("simulator"),
        api_mqtt_url=broker.url("api"),
        gateway_mqtt_url=broker.url("gateway"),
        gateway_amqp_url=broker.amqp_url("gateway"),
        broker_admin_url=broker.node.admin_url,
        # `run` starts the auth service on the address this broker asks (a free port).
        broker_auth_port=broker.node.auth_url.rsplit(":", 1)[1],
        # and the demo gateways on free ports too, clear of anything on the default ones
        alerting_community_gateway_url=f"http://127.0.0.1:{services.free_port()}/notify",
        alerting_family_gateway_url=f"http://127.0.0.1:{services.free_port()}/notify",
        alerting_gateway_120_url=f"http://127.0.0.1:{services.free_port()}/dispatch",
    )
    try:
        seen = _wait_for_rules(port, began, deadline_s=60.0)
        elapsed = time.monotonic() - began
        print(f"demo: {sorted(seen)} shown {elapsed:.1f} s after `eldercare run` started")
        assert seen >= EXPECTED_WITHIN_60_S, (
            f"after 60 s the console showed only {sorted(seen)}; log:\n"
            + log_path.read_text(errors="replace")[-4000:]
        )
        _newcomer_sees_and_hears_the_sos(chromium_page, f"http://127.0.0.1:{port}")
        watches = fleet_device_ids(5, WATCH_FLEET_FIRST_SERIAL)  # `run`'s default --watches
        seen, placed = _watch_residents_on_the_board(port, watches, deadline_s=90.0)
        assert seen == set(watches) and placed, (
            f"the board lists {len(seen)} of the 5 watches' residents as seen, {len(placed)} "
            "placed on the map; log:\n" + log_path.read_text(errors="replace")[-4000:]
        )
    finally:
        run.send_signal(signal.SIGINT)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
        services.drop_database(postgres_admin_url, database_url)
        broker.stop()


def _newcomer_sees_and_hears_the_sos(page, base: str) -> None:
    """The duty account's console: Chinese, residents on the map, the SOS sounding."""
    page.set_default_timeout(45_000)  # the whole system and a fleet share this machine
    log_in_in_chinese(page, f"{base}/console", "duty", password=DEMO_PASSWORD)
    sos = page.locator('#alert-rows tr[data-rule="sos"]').first
    sos.wait_for(state="visible")
    _wait_for(page, "document.body.dataset.alarm === 'on'")
    _wait_for(page, "!document.getElementById('alarm').paused")
    page.wait_for_selector('#map:not([data-residents="0"]) path.resident-dot')
    sos.locator("button.details").click()
    page.wait_for_selector("#map path.fence")
    page.wait_for_selector("#vitals .vitals-chart canvas")
    page.screenshot(path=str(ARTEFACTS / "demo-console-1366x768.png"))


def _watch_residents_on_the_board(
    port: int, device_ids: list[str], deadline_s: float
) -> tuple[set[str], set[str]]:
    """Which of the watches' bands the duty board lists under a resident as seen (through the
    gateway), and which of them with a position. A watch's first position report may come a
    couple of minutes after start, so all seen and at least one placed is enough."""
    base, began = f"http://127.0.0.1:{port}", time.monotonic()
    seen: set[str] = set()
    placed: set[str] = set()
    reply = httpx.post(
        f"{base}/auth/token", data={"username": "duty", "password": DEMO_PASSWORD}, timeout=10
    )
    headers = {"Authorization": f"Bearer {reply.json()['access_token']}"}
    while time.monotonic() - began < deadline_s and not (seen == set(device_ids) and placed):
        board = httpx.get(f"{base}/board/residents?limit=100", headers=headers, timeout=10)
        rows = [r for r in board.json()["items"] if r["location"]["device_id"] in device_ids]
        seen = {r["location"]["device_id"] for r in rows if r["location"]["last_seen"]}
        placed = {r["location"]["device_id"] for r in rows if r["location"]["fix"]}
        time.sleep(1.0)
    return seen, placed


def _wait_for_rules(port: int, began: float, deadline_s: float) -> set[str]:
    """Rules of the alerts the duty account's console lists, polled until all or the deadline."""
    base, token, seen = f"http://127.0.0.1:{port}", None, set()
    first_seen: dict[str, float] = {}
    while time.monotonic() - began < deadline_s and not seen >= EXPECTED_WITHIN_60_S:
        try:
            if token is None:
                reply = httpx.post(
                    f"{base}/auth/token",
                    data={"username": "duty", "password": DEMO_PASSWORD},
                    timeout=5,
                )
                token = reply.json()["access_token"] if reply.status_code == 200 else None
            if token is not None:
                page = httpx.get(
                    f"{base}/alerts?status=open&status=acknowledged&limit=100",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                ).json()
                seen = {alert["rule"] for alert in page["items"]}
                for rule in seen - set(first_seen):
                    first_seen[rule] = round(time.monotonic() - began, 1)
        except httpx.HTTPError:
            pass  # not up yet
        time.sleep(1.0)
    print(f"demo: seconds after start at which each rule was first listed: {first_seen}")
    return seen
