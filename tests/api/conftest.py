"""API fixtures: the app over the real test services, and factories for accounts,
grids, residents, family links and bands."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.accounts.service import hash_password, issue_token
from api.app import create_app
from eldercare.settings import Settings

ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts"  # screenshots (gitignored)
TEST_PASSWORD = "pw-1234567890"  # noqa: S105 - test fixture
_PASSWORD_HASH = hash_password(TEST_PASSWORD)


@dataclass
class Actor:
    account_id: int
    role: str
    headers: dict[str, str]


@pytest.fixture(scope="session")
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"api_location_rate_per_min": 100_000, "api_login_rate_per_min": 1000}
    )


@pytest.fixture(scope="session")
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture
def make_actor(db: psycopg.Connection, api_settings: Settings):
    """Factory: an account of `role` (optionally over grids) with a bearer token."""

    def make(role: str, grid_ids: tuple[int, ...] = ()) -> Actor:
        # One argon2 hash for every test account: hashing is deliberately slow.
        account_id = db.execute(
            """INSERT INTO accounts (username, password_hash, role) VALUES (%s, %s, %s)
               RETURNING account_id""",
            (f"{role[:10]}-{uuid.uuid4().hex[:10]}", _PASSWORD_HASH, role),
        ).fetchone()[0]
        for grid_id in grid_ids:
            db.execute("INSERT INTO account_grids VALUES (%s, %s)", (account_id, grid_id))
        token = issue_token(settings=api_settings, account_id=account_id)
        return Actor(account_id, role, {"Authorization": f"Bearer {token}"})

    return make


@pytest.fixture
def make_grid(db: psycopg.Connection):
    def make() -> int:
        name = f"grid-{uuid.uuid4().hex[:10]}"
        return db.execute(
            "INSERT INTO grids (name) VALUES (%s) RETURNING grid_id", (name,)
        ).fetchone()[0]

    return make


@pytest.fixture
def make_resident(db: psycopg.Connection):
    def make(grid_id: int | None = None, name: str = "Wang Fang") -> int:
        return db.execute(
            "INSERT INTO residents (full_name, grid_id) VALUES (%s, %s) RETURNING resident_id",
            (name, grid_id),
        ).fetchone()[0]

    return make


@pytest.fixture
def link_family(db: psycopg.Connection):
    """Factory: a consented family link (recorded by its own account, for brevity)."""

    def link(resident_id: int, account_id: int) -> int:
        return db.execute(
            """INSERT INTO family_links (resident_id, account_id, consent_method,
                   consent_recorded_by) VALUES (%s, %s, 'written', %s) RETURNING link_id""",
            (resident_id, account_id, account_id),
        ).fetchone()[0]

    return link


@pytest.fixture
def bind_band(db: psycopg.Connection, new_band_ids):
    """Factory: a registered band bound to a resident; returns its IMEI."""

    def bind(resident_id: int) -> str:
        (device_id,) = new_band_ids(1)
        db.execute(
            "UPDATE devices SET resident_id = %s WHERE device_id = %s", (resident_id, device_id)
        )
        return device_id

    return bind


@pytest.fixture
def family_world(make_actor, make_grid, make_resident, link_family):
    """Two residents in two grids, each with a linked family member and a grid worker."""
    grid_a, grid_b = make_grid(), make_grid()
    res_a, res_b = make_resident(grid_a, "Resident A"), make_resident(grid_b, "Resident B")
    fam_a, fam_b = make_actor("family"), make_actor("family")
    link_family(res_a, fam_a.account_id)
    link_family(res_b, fam_b.account_id)
    return {
        "grid_a": grid_a,
        "grid_b": grid_b,
        "res_a": res_a,
        "res_b": res_b,
        "fam_a": fam_a,
        "fam_b": fam_b,
        "worker_a": make_actor("grid_worker", (grid_a,)),
        "worker_b": make_actor("grid_worker", (grid_b,)),
        "admin": make_actor("admin"),
        "duty": make_actor("duty_staff"),
        "volunteer": make_actor("volunteer"),
    }


@pytest.fixture
def open_alert(db: psycopg.Connection):
    """Factory: an alert raised through the alerting package's public entry point."""
    from datetime import UTC, datetime

    from alerting.alerts.service import apply_finding
    from alerting.rules.common import Finding

    def make(device_id: str, rule: str = "tachycardia", severity: int = 3, **fields) -> int:
        now = datetime.now(UTC)
        finding = Finding(
            rule=rule,
            device_id=device_id,
            observed_at_ms=int(now.timestamp() * 1000),
            severity=severity,
            title=fields.pop("title", f"{rule} (test)"),
            source_event_id=uuid.uuid4().hex if rule in ("sos", "fall") else None,
            **fields,
        )
        return apply_finding(db, finding=finding, now=now)

    return make


@pytest.fixture
def deliver_changes(db: psycopg.Connection, api_settings: Settings, redis_url: str):
    """Run the dispatcher once over the 'changes' channel (outbox -> Redis stream)."""
    from datetime import UTC, datetime

    import redis

    from alerting.dispatcher import Dispatcher

    client = redis.Redis.from_url(redis_url)
    dispatcher = Dispatcher(api_settings, client)

    def deliver() -> int:
        return dispatcher.run_once(db, now=datetime.now(UTC), channels=("changes",))

    yield deliver
    client.close()


@pytest.fixture(scope="session")
def live_api_app(api_settings: Settings):
    """The application `live_api` serves (keep-alives every second)."""
    # Maps in the browser tests draw on a blank background: the tile server is unreachable.
    unreachable_tiles = "http://127.0.0.1:9/{z}/{x}/{y}.png"
    app = create_app(api_settings.model_copy(update={"api_map_tile_url": unreachable_tiles}))
    app.state.alert_stream_keepalive_s = 1.0
    return app


@contextmanager
def serving(app) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port (streams need a real server); its URL."""
    import threading

    import uvicorn

    from tests.support.services import free_port, wait_for_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_api(live_api_app) -> Iterator[str]:
    """The API under uvicorn, shared by the session's stream and browser tests."""
    with serving(live_api_app) as url:
        yield url


@pytest.fixture
def alert_world(family_world, bind_band, open_alert):
    """family_world plus a band and an open alert for each of its two residents."""
    w = family_world
    w["band_a"], w["band_b"] = bind_band(w["res_a"]), bind_band(w["res_b"])
    w["alert_a"] = open_alert(w["band_a"], lat=41.1, lon=122.9, acc_m=8.0)
    w["alert_b"] = open_alert(w["band_b"], rule="sos", severity=4)
    return w


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium_page(tmp_path):
    """A fresh headless Chromium page; fails (never skips) when the browser is missing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium (deploy/native/setup.sh does)",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("python playwright is missing: pip install -e '.[dev]'", pytrace=False)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            locale="zh-CN",  # a duty-room machine in China: Accept-Language zh-CN
            viewport={"width": 1366, "height": 768},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(15_000)
            ARTEFACTS.mkdir(exist_ok=True)
            yield page
        finally:
            context.close()
