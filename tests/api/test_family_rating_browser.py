"""The family page in headless Chromium asks how a resolved SOS was handled and sends the
rating; a low one reaches the director."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alerting.alerts import service as alerts
from tests.api.conftest import _PASSWORD_HASH, ARTEFACTS
from tests.api.test_console_browser import log_in_in_chinese
from tests.support.wait import wait_until


def test_family_page_asks_for_a_rating_of_the_resolved_sos_and_sends_it(
    live_api, chromium_page, db, make_grid, make_resident, bind_band, open_alert, link_family
):
    page = chromium_page
    page.set_viewport_size({"width": 390, "height": 844})
    resident = make_resident(make_grid(), "王桂兰")
    band = bind_band(resident)
    username = f"family-{uuid.uuid4().hex[:10]}"
    account_id = db.execute(
        """INSERT INTO accounts (username, password_hash, role) VALUES (%s, %s, 'family')
           RETURNING account_id""",
        (username, _PASSWORD_HASH),
    ).fetchone()[0]
    link_family(resident, account_id)
    alert_id = open_alert(band, rule="sos", severity=4, title="SOS button pressed")
    alerts.resolve(
        db, alert_id=alert_id, actor="duty:wang", resolution="已到场", now=datetime.now(UTC)
    )

    log_in_in_chinese(page, f"{live_api}/family", username, ready="body[data-loads]")
    form = page.locator(f'#to-rate form[data-alert-id="{alert_id}"]')
    form.wait_for(state="visible")
    assert page.locator("#rate-card h3").text_content() == "请为处理结果评分"
    assert "SOS" in form.text_content() and "已处理完毕" in form.text_content()
    page.screenshot(path=str(ARTEFACTS / "family-rating-asked-390x844.png"), full_page=True)
    form.locator("select.score").select_option("2")
    form.locator("input.comment").fill("等了很久才有人来")
    form.locator("button").click()
    page.wait_for_selector('#rate-message:text("感谢您的评价")')
    form.wait_for(state="detached")  # asked once: it is rated

    stored = wait_until(
        lambda: db.execute(
            "SELECT score, comment FROM alert_ratings WHERE alert_id = %s AND rated_by = %s",
            (alert_id, account_id),
        ).fetchone()
    )
    assert stored == (2, "等了很久才有人来")
    director = db.execute(
        """SELECT payload->'low_rating'->>'score' FROM outbox
           WHERE alert_id = %s AND payload->>'target' = 'community_director'
             AND payload ? 'low_rating'""",
        (alert_id,),
    ).fetchall()
    assert director == [("2",)]
    page.screenshot(path=str(ARTEFACTS / "family-rating-sent-390x844.png"), full_page=True)
