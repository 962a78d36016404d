"""The care page in headless Chromium: log in, read today's reasons in Chinese, record two
unanswered calls and see the resident go to the grid worker; the other tabs (groups,
warnings, councils, resource list) in Chinese."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alerting.alerts.service import raise_system_alert
from alerting.rules.common import MEDIUM
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


def _care_world(db, make_grid, make_resident) -> dict:
    """One of each: a suggestion to confirm, an open early warning, an overdue council task
    and a partner with a discounted household service."""
    owner, _ = _duty_login(db)
    rid = make_resident(make_grid(), "王大爷")
    (suggestion,) = db.execute(
        """INSERT INTO care_group_suggestions (resident_id, grp, evidence, created_at)
           VALUES (%s, 'disabled', '{"requests": {"days": 30, "requests": 5}}', now())
           RETURNING suggestion_id""",
        (rid,),
    ).fetchone()
    details = {"subject_key": f"early_warning:community:request:heating:{uuid.uuid4().hex[:6]}",
               "grid_id": None, "grid_name": None, "category": "request:heating",
               "observed": 19, "expected": 3.2, "p_value": 1e-9, "recent_days": 3,
               "baseline_days": 28, "days": [], "counts": []}  # fmt: skip
    warning = raise_system_alert(
        db, rule="early_warning", title="预警", details=details, now=datetime.now(UTC),
        severity=MEDIUM, subject_key=details["subject_key"], actor="early_warning",
    )  # fmt: skip
    (topic,) = db.execute(
        """INSERT INTO council_topics (title, source, status, created_by, created_at, decided_at,
               votes_for, votes_against, votes_abstain)
           VALUES ('楼道加装扶手', 'staff', 'decided', %s, now(), now(), 5, 1, 0)
           RETURNING topic_id""",
        (owner,),
    ).fetchone()
    db.execute(
        """INSERT INTO council_tasks (topic_id, title, owner_account, due_on, created_at)
           VALUES (%s, '联系物业安装扶手', %s, current_date - 3, now())""",
        (topic, owner),
    )
    (partner,) = db.execute(
        """INSERT INTO partners (name, kind, phone) VALUES (%s, 'service_station', '024-1234')
           RETURNING partner_id""",
        (f"幸福家政服务站-{uuid.uuid4().hex[:6]}",),
    ).fetchone()
    db.execute(
        """INSERT INTO partner_offers (partner_id, title, category, discount_pct, opening_hours,
               capacity_per_week) VALUES (%s, '上门保洁', 'household', 20, %s, 40)""",
        (partner, "周一至周五 8:00-17:00"),
    )
    return {"suggestion": suggestion, "warning": warning, "topic": topic, "partner": partner}


def test_groups_warnings_councils_and_partners_are_on_the_care_page_in_chinese(
    live_api, chromium_page, db, make_grid, make_resident
):
    page = chromium_page
    world = _care_world(db, make_grid, make_resident)
    _, username = _duty_login(db)
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    page.goto(f"{live_api}/care")
    page.fill("#username", username)
    page.fill("#password", TEST_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#list-view:not([hidden])")

    page.click('button[data-tab="groups"]')
    row = page.locator(f'tr[data-suggestion="{world["suggestion"]}"]')
    row.wait_for(state="visible", timeout=30_000)
    assert "失能/残疾老人" in row.text_content()
    assert "近 30 天提出了 5 次服务或求助" in row.text_content()
    row.locator('button[data-decision="confirm"]').click()
    row.wait_for(state="detached", timeout=30_000)
    status = "SELECT status FROM care_group_suggestions WHERE suggestion_id = %s"
    assert db.execute(status, (world["suggestion"],)).fetchone()[0] == "confirmed"
    assert page.locator('button[data-export="disabled.xlsx"]').text_content() == "导出 Excel"

    page.click('button[data-tab="warnings"]')
    card = page.locator(f'li[data-alert="{world["warning"]}"]')
    card.wait_for(state="visible", timeout=30_000)
    assert "预警：全社区“供暖”类诉求明显增多" in card.text_content()
    assert "近 3 天共 19 起" in card.text_content()

    page.click('button[data-tab="councils"]')
    decision = page.locator(f'tr[data-topic="{world["topic"]}"]')
    decision.wait_for(state="visible", timeout=30_000)
    assert decision.get_attribute("data-overdue") == "true"
    assert "联系物业安装扶手" in decision.text_content() and "已超期" in decision.text_content()

    page.click('button[data-tab="partners"]')
    partner = page.locator(f'tr[data-partner="{world["partner"]}"]')
    partner.wait_for(state="visible", timeout=30_000)
    text = partner.text_content()
    assert "家政服务站" in text and "居民优惠 20%" in text and "每周 40 人次" in text
