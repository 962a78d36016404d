"""The duty console in headless Chromium: log in, see a new alert arrive live, acknowledge it.

Chromium comes from Debian (`deploy/native/setup.sh` installs it); playwright drives it with
executable_path, never with a browser of its own download.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

from eldercare import keys
from tests.api.conftest import _PASSWORD_HASH, ARTEFACTS, TEST_PASSWORD


def log_in_in_chinese(
    page, url: str, username: str, ready: str = '#conn[data-state="live"]', password: str = ""
):
    """Open a page, check it greets in Chinese, log in, wait until `ready` shows."""
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.locator("#login-button").text_content() == "登录"
    page.fill("#username", username)
    page.fill("#password", password or TEST_PASSWORD)
    page.click("#login-button")
    page.wait_for_selector(ready)


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

    log_in_in_chinese(page, f"{live_api}/console", username)
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


HOME = (41.108, 122.994)


def _grid_worker(db, grid_id: int, full_name: str) -> str:
    username = f"grid-{uuid.uuid4().hex[:10]}"
    account_id = db.execute(
        """INSERT INTO accounts (username, full_name, password_hash, role)
           VALUES (%s, %s, %s, 'grid_worker') RETURNING account_id""",
        (username, full_name, _PASSWORD_HASH),
    ).fetchone()[0]
    db.execute("INSERT INTO account_grids VALUES (%s, %s)", (account_id, grid_id))
    return username


def _place_resident(db, redis_client, prefix: str, resident_id: int, device_id: str) -> None:
    """A home fence, a last position in Redis and a recent track of three fixes."""
    db.execute(
        """INSERT INTO geofences (resident_id, name, shape, center_lat, center_lon, radius_m)
           VALUES (%s, '家', 'circle', %s, %s, 300)""",
        (resident_id, *HOME),
    )
    now = datetime.now(UTC)
    db.execute(
        "UPDATE devices SET bound_at = %s WHERE device_id = %s",
        (now - timedelta(hours=1), device_id),
    )
    for minutes, north in ((30, 0.0), (20, 0.002), (10, 0.004)):  # a walk north-east
        db.execute(
            """INSERT INTO location_fixes (device_id, t, lat, lon, acc_m, src, received_at)
               VALUES (%s, %s, %s, %s, 15, 'gnss', now())""",
            (device_id, now - timedelta(minutes=minutes), HOME[0] + north, HOME[1] + north),
        )
    with db.cursor() as cur:  # an hour of vitals: heart rate climbing over the threshold
        cur.executemany(
            """INSERT INTO telemetry_samples (device_id, t, hr, sbp, dbp, steps, worn, received_at)
               VALUES (%s, %s, %s, 150, 90, 1200, true, now())""",
            [(device_id, now - timedelta(minutes=m), 140 - m) for m in range(1, 60)],
        )
    fix_ms = int((now - timedelta(minutes=1)).timestamp() * 1000)
    redis_client.hset(
        keys.band_state(prefix, device_id),
        mapping={
            "fix_t": fix_ms,
            "lat": HOME[0] + 0.004,
            "lon": HOME[1],
            "acc_m": "15",
            "src": "gnss",
            "online": "1",
            "battery": "64",
            "last_seen": fix_ms,
            "worn": "1",
            "vitals_t": fix_ms,
        },
    )


def _wait_for(page, expression: str, timeout_s: float = 10.0) -> None:
    """Poll a JS expression from outside: the page's CSP forbids the eval wait_for_function uses."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        time.sleep(0.1)


def _audio_playing(page) -> bool:
    return page.evaluate(
        "(() => { const a = document.getElementById('alarm');"
        " return !a.paused && a.currentTime > 0; })()"
    )


def test_grid_worker_sees_map_hears_sos_acknowledges_and_reads_chinese_timeline(
    live_api,
    chromium_page,
    db,
    redis_client,
    api_settings,
    make_grid,
    make_resident,
    bind_band,
    open_alert,
    deliver_changes,
):
    page = chromium_page
    ARTEFACTS.mkdir(exist_ok=True)
    grid_id = make_grid()
    resident_id = make_resident(grid_id, "李秀英")
    band = bind_band(resident_id)
    _place_resident(db, redis_client, api_settings.redis_prefix, resident_id, band)
    username = _grid_worker(db, grid_id, "网格员 李强")
    deliver_changes()

    log_in_in_chinese(page, f"{live_api}/console", username)
    assert page.locator("h1").text_content() == "值班台"
    page.wait_for_selector('#map[data-residents="1"] path.resident-dot')
    assert page.evaluate("document.body.dataset.alarm") is None  # nothing urgent yet

    alert_id = open_alert(
        band,
        rule="sos",
        severity=4,
        title="SOS button pressed",
        lat=HOME[0] + 0.004,
        lon=HOME[1],
        acc_m=25.0,
    )
    deliver_changes()
    row = page.locator(f'tr[data-alert-id="{alert_id}"]')
    row.wait_for(state="visible", timeout=10_000)
    assert row.locator(".title").text_content() == "SOS 按键求救"
    _wait_for(page, "document.body.dataset.alarm === 'on'")
    deadline = time.monotonic() + 10
    while not _audio_playing(page) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _audio_playing(page), "the alarm sound is not playing"
    _wait_for(page, "document.title.startsWith('【紧急 1】')")
    _wait_for(page, "document.title === '值班台'")  # it flashes, back and forth

    row.locator("button.details").click()
    page.wait_for_selector('#map[data-fences="1"] path.fence')
    page.wait_for_selector("#map path.alert-position")
    page.wait_for_selector("#map path.accuracy-circle")
    page.wait_for_selector("#map path.track")
    page.wait_for_selector("#vitals .vitals-steps canvas")
    assert page.locator("#vitals .vitals-chart canvas").count() >= 3
    assert int(page.evaluate("document.getElementById('vitals').dataset.buckets")) >= 50
    page.screenshot(path=str(ARTEFACTS / "console-sos-1366x768.png"))

    page.locator("#detail button.ack").click()
    page.wait_for_selector(f'tr[data-alert-id="{alert_id}"][data-status="acknowledged"]')
    _wait_for(page, "document.body.dataset.alarm === undefined")
    assert page.evaluate("document.getElementById('alarm').paused") is True
    assert page.title() == "值班台"

    page.once("dialog", lambda dialog: dialog.accept("已电话联系家属，女儿正赶往"))
    page.locator("#detail button.note").click()
    _wait_for(page, "document.getElementById('timeline').textContent.includes('已电话联系家属')")
    entries = page.locator("#timeline li").all_text_contents()
    assert any(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d 网格员 李强 确认了告警", e) for e in entries
    )
    assert any(e.endswith("网格员 李强 备注：已电话联系家属，女儿正赶往") for e in entries)
    assert any("告警引擎 发起告警" in e for e in entries)
    page.screenshot(path=str(ARTEFACTS / "console-timeline-1366x768.png"))


def test_family_page_on_a_phone_shows_only_its_own_elder(
    live_api,
    chromium_page,
    db,
    redis_client,
    api_settings,
    make_grid,
    make_resident,
    bind_band,
    open_alert,
    link_family,
):
    page = chromium_page
    page.set_viewport_size({"width": 390, "height": 844})
    grid_id = make_grid()
    mine, theirs = make_resident(grid_id, "王桂兰"), make_resident(grid_id, "赵德明")
    band_mine, band_theirs = bind_band(mine), bind_band(theirs)
    _place_resident(db, redis_client, api_settings.redis_prefix, mine, band_mine)
    _place_resident(db, redis_client, api_settings.redis_prefix, theirs, band_theirs)
    username = f"family-{uuid.uuid4().hex[:10]}"
    account_id = db.execute(
        """INSERT INTO accounts (username, password_hash, role) VALUES (%s, %s, 'family')
           RETURNING account_id""",
        (username, _PASSWORD_HASH),
    ).fetchone()[0]
    link_family(mine, account_id)
    open_alert(band_mine, rule="fall", severity=4, title="Fall detected")
    open_alert(band_theirs, rule="sos", severity=4, title="SOS button pressed")

    log_in_in_chinese(page, f"{live_api}/family", username, ready="body[data-loads]")
    assert page.locator("#elder-name").text_content() == "王桂兰"
    assert page.evaluate("document.body.dataset.residentId") == str(mine)
    assert page.locator("#elder option").count() == 1
    page.wait_for_selector("#map path.alert-position")
    page.wait_for_selector("#map path.fence")
    summary = page.locator("#position-summary").text_content()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d · .*前定位，误差约 15 米", summary), summary
    urgent = page.locator("#urgent > li").all_text_contents()
    assert len(urgent) == 1 and "跌倒" in urgent[0] and "待处理" in urgent[0]
    assert "今日步数" in page.locator("#vitals").text_content()
    body = page.locator("body").text_content()
    assert "赵德明" not in body and "SOS" not in body
    page.screenshot(path=str(ARTEFACTS / "family-390x844.png"), full_page=True)
    audited = db.execute(
        "SELECT DISTINCT resident_id FROM audit_log WHERE account_id = %s", (account_id,)
    ).fetchall()
    assert audited == [(mine,)]
