"""The requests console and the public board in headless Chromium: a resident's request
from report to resolution through the page, in Chinese, with hostile text shown as text."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx

from tests.api.conftest import _PASSWORD_HASH, TEST_PASSWORD


def _login_account(db, role: str, grid_id: int | None = None) -> tuple[int, str]:
    username = f"{role[:8]}-{uuid.uuid4().hex[:10]}"
    account_id = db.execute(
        """INSERT INTO accounts (username, password_hash, role, full_name)
           VALUES (%s, %s, %s, '李网格') RETURNING account_id""",
        (username, _PASSWORD_HASH, role),
    ).fetchone()[0]
    if grid_id is not None:
        db.execute("INSERT INTO account_grids VALUES (%s, %s)", (account_id, grid_id))
    return account_id, username


def _wait_for(db, query: str, params: tuple, expected) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if db.execute(query, params).fetchone()[0] == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"{query} never gave {expected!r}")


def test_grid_worker_takes_and_resolves_a_request_in_the_console(
    live_api,
    chromium_page,  # noqa: F811 - the imported fixture
    db,
    make_grid,
    make_resident,
    make_actor,
    link_family,
    tmp_path,  # noqa: F811
):
    page = chromium_page
    grid = make_grid()
    resident = make_resident(grid, "王芳")
    family = make_actor("family")
    link_family(resident, family.account_id)
    worker_id, username = _login_account(db, "grid_worker", grid)
    hostile = '楼道灯坏了 <img src=x onerror="document.body.dataset.pwned=1">'
    opened = httpx.post(
        f"{live_api}/requests",
        json={"text": hostile, "resident_id": resident},
        headers=family.headers,
    ).json()
    number, request_id = opened["number"], opened["request_id"]

    page.goto(f"{live_api}/requests-console?locale=zh_CN")
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("h1") == "居民诉求工作台"
    page.fill("#username", username)
    page.fill("#password", TEST_PASSWORD)
    page.click("#login-button")
    row = page.locator(f'tr[data-id="{request_id}"]')
    row.wait_for(state="visible")
    assert number in row.text_content() and "设施维修" in row.text_content()
    row.click()
    page.wait_for_selector("#timeline li[data-kind='queued']")
    detail = page.text_content("#detail")
    assert hostile in detail and "王芳" in detail and "网格员" in detail
    assert page.locator("#detail img").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None

    page.click("form[data-action='受理'] button")
    _wait_for(
        db, "SELECT status::text FROM requests WHERE request_id = %s", (request_id,), "acknowledged"
    )
    page.wait_for_selector("#timeline li[data-kind='acknowledged']")
    page.fill("form[data-action='公开答复'] textarea", "已联系电工，今天下午更换。")
    page.click("form[data-action='公开答复'] button")
    page.wait_for_selector("#timeline li[data-kind='reply']")
    page.fill("form[data-action='办结'] textarea", "已更换灯泡。")
    page.click("form[data-action='办结'] button")
    _wait_for(
        db, "SELECT status::text FROM requests WHERE request_id = %s", (request_id,), "resolved"
    )
    page.wait_for_selector("#timeline li[data-kind='resolved']")
    page.screenshot(path=str(tmp_path / "requests-console.png"), full_page=True)
    assert (
        db.execute(
            "SELECT resolved_by FROM requests WHERE request_id = %s", (request_id,)
        ).fetchone()[0]
        == worker_id
    )
    # The requester follows it and rates it.
    mine = httpx.get(f"{live_api}/requests/{request_id}/timeline", headers=family.headers).json()
    assert [e["kind"] for e in mine["items"]][-2:] == ["reply", "resolved"]
    rated = httpx.post(
        f"{live_api}/requests/{request_id}/rating",
        json={"score": 5, "comment": "很快"},
        headers=family.headers,
    )
    assert rated.status_code == 201

    month = datetime.now(UTC).astimezone().strftime("%Y-%m")
    page.goto(f"{live_api}/board?month={month}&locale=zh_CN")
    page.wait_for_selector("tr[data-category='facilities']")
    board = page.text_content("#board")
    assert "设施维修" in board and "王芳" not in board and "楼道灯" not in board
    page.screenshot(path=str(tmp_path / "board.png"), full_page=True)
