"""The daily check list page in headless Chromium: log in, read today's reasons in Chinese,
record two unanswered calls and see the resident go to the grid worker."""

from __future__ import annotations

from tests.api.conftest import TEST_PASSWORD
from tests.api.test_console_browser import _duty_login


def test_two_unanswered_calls_on_the_page_send_the_resident_to_the_grid_worker(
    live_api,
    chromium_page,
    db,
    make_grid,
    make_resident,
    bind_band,
):
    page = chromium_page
    _, username = _duty_login(db)
    hostile = '孙丽 <img src=x onerror="document.body.dataset.pwned=1">'
    rid = make_resident(make_grid(), hostile)
    bind_band(rid)  # a band that has never sent anything

    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})  # a Chinese browser
    page.goto(f"{live_api}/care")
    assert page.title() == "每日关怀清单"
    page.fill("#username", username)
    page.fill("#password", TEST_PASSWORD)
    page.click("#login-form button[type=submit]")
    row = page.locator(f'tr[data-resident="{rid}"]')
    row.wait_for(state="visible", timeout=30_000)
    assert row.locator('li[data-code="no_data"]').text_content() == "近 30 天没有收到手环数据"
    assert row.locator("strong").text_content() == hostile
    assert row.locator("img").count() == 0

    for _ in range(2):
        row.locator('button[data-kind="call"][data-outcome="not_reached"]').click()
        page.wait_for_load_state("networkidle")
    page.wait_for_selector(f'tr[data-resident="{rid}"][data-handler="grid_worker"]')
    assert row.locator(".badge").text_content() == "转网格员"
    assert row.locator('li[data-code="not_reached"]').text_content() == (
        "已连续 2 次电话或上门未联系上，请网格员上门"
    )
    assert page.evaluate("document.body.dataset.pwned") is None
    outcomes = db.execute(
        "SELECT outcome FROM care_contacts WHERE resident_id = %s", (rid,)
    ).fetchall()
    assert [o for (o,) in outcomes] == ["not_reached", "not_reached"]
