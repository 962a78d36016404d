"""The duty console in headless Chromium: log in, see a new alert arrive live, acknowledge it.

Chromium comes from Debian (`deploy/native/setup.sh` installs it); playwright drives it with
executable_path, never with a browser of its own download.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

from tests.api.conftest import _PASSWORD_HASH, TEST_PASSWORD

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
            yield page
        finally:
            context.close()


def _duty_login(db) -> tuple[int, str]:
    username = f"duty-{uuid.uuid4().hex[:10]}"
    account_id = db.execute(
        """INSERT INTO accounts (username, password_hash, role) VALUES (%s, %s, 'duty_staff')
           RETURNING account_id""",
        (username, _PASSWORD_HASH),
    ).fetchone()[0]
    return account_id, username


def test_new_alert_appears_live_and_acknowledge_reaches_the_server(
    live_api, chromium_page, db, make_grid, make_resident, bind_band, open_alert, deliver_changes
):
    page = chromium_page
    account_id, username = _duty_login(db)
    # A name that would run script if the page ever rendered it as HTML.
    hostile = 'Zhao Li <img src=x onerror="document.body.dataset.pwned=1">'
    band = bind_band(make_resident(make_grid(), hostile))
    deliver_changes()  # older changes out of the way

    page.goto(f"{live_api}/console")
    page.wait_for_selector("body[data-ready]")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.locator("#login-button").text_content() == "登录"
    page.fill("#username", username)
    page.fill("#password", TEST_PASSWORD)
    page.click("#login-button")
    page.wait_for_selector('#conn[data-state="live"]')
    # The login's list load and the stream's on-open reload are both done before the alert.
    page.wait_for_function("Number(document.body.dataset.listLoads) >= 2")
    loads = page.evaluate("document.body.dataset.listLoads")
    page.evaluate("window.__notReloaded = true")

    alert_id = open_alert(band, rule="fall", severity=4, title="Fall detected")
    deliver_changes()
    row = page.locator(f'tr[data-alert-id="{alert_id}"]')
    row.wait_for(state="visible", timeout=10_000)  # well inside the page's 60 s safety poll
    assert page.evaluate("window.__notReloaded") is True
    assert int(page.evaluate("document.body.dataset.events")) >= 1
    assert page.evaluate("document.body.dataset.listLoads") == loads  # it came over the stream
    assert row.locator(".resident").text_content() == hostile
    assert row.locator(".title").text_content() == "检测到跌倒"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", row.locator(".opened").text_content())
    assert row.locator("img").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None

    row.locator("button.ack").click()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, by = db.execute(
            "SELECT status, acknowledged_by FROM alerts WHERE alert_id = %s", (alert_id,)
        ).fetchone()
        if status == "acknowledged":
            break
        time.sleep(0.2)
    assert (status, by) == ("acknowledged", f"account:{account_id}")
    page.wait_for_selector(f'tr[data-alert-id="{alert_id}"][data-status="acknowledged"]')
    assert row.locator(".status").text_content() == "已确认"

    row.locator("button.details").click()
    page.wait_for_selector(f'#detail[data-alert-id="{alert_id}"] #timeline li')
    timeline = page.locator("#timeline").text_content()
    assert f"{username} 确认了告警" in timeline
