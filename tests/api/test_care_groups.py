"""Priority groups: suggestions from the data for a person to confirm, never applied by
themselves; lists for home visits as CSV and Excel; the same access rules as elsewhere."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.app import create_app
from simulators.history import Plan, copy_samples, samples
from tests.api.care_support import NOW, ZONE, new_grid, resident_with_band, roll_up_care

HOME = (41.81, 123.41)
PEOPLE = ("loner", "partner_1", "partner_2", "with_family", "still", "asker", "outsider")


def _home_fixes(db, imei: str, home: tuple[float, float], hours: int = 48) -> None:
    for h in range(hours):
        at = NOW - timedelta(hours=h + 1)
        db.execute(
            """INSERT INTO location_fixes (device_id, t, lat, lon, acc_m, src, received_at)
               VALUES (%s, %s, %s, %s, 15, 'wifi', %s)""",
            (imei, at, home[0], home[1], at),
        )


@pytest.fixture(scope="module")
def world(database_url: str, api_settings) -> dict:
    with psycopg.connect(database_url, autocommit=True) as db:
        grid_a, grid_b = new_grid(db), new_grid(db)
        # Each lives at a home of their own, except the partners, who share one.
        homes = {n: (HOME[0] + i * 0.01, HOME[1]) for i, n in enumerate(PEOPLE)}
        homes["partner_2"] = homes["partner_1"]
        made = {
            n: resident_with_band(db, grid_b if n == "outsider" else grid_a, n, homes[n])
            for n in PEOPLE
        }
        for name in ("loner", "partner_1", "partner_2", "with_family", "outsider"):
            _home_fixes(db, made[name][1], homes[name])
        family = db.execute(
            "INSERT INTO accounts (username, password_hash, role) VALUES (%s, 'x', 'family')"
            " RETURNING account_id",
            (f"fam-{uuid.uuid4().hex[:8]}",),
        ).fetchone()[0]
        db.execute(
            """INSERT INTO family_links (resident_id, account_id, consent_method,
                   consent_recorded_by) VALUES (%s, %s, 'written', %s)""",
            (made["with_family"][0], family, family),
        )
        rng = np.random.default_rng(2)
        plan = Plan.healthy(1, 30, rng)
        plan.steps[:] = 300
        first_day = (NOW.astimezone(ZONE) - timedelta(days=29)).date()
        history = samples(
            [made["still"][1]], plan, first_day=first_day, zone=ZONE, interval_s=3600,
            until=np.array([NOW.timestamp()]), rng=rng,
        )  # fmt: skip
        copy_samples(db, history)
        for day in range(4):
            db.execute(
                """INSERT INTO bookings (resident_id, service, source, requested_at)
                   VALUES (%s, 'housekeeping', 'staff', %s)""",
                (made["asker"][0], NOW - timedelta(days=day * 5)),
            )
    # The rollup state is this module's: start from nothing, as `eldercare jobs` would.
    roll_up_care(api_settings, NOW + timedelta(minutes=2), from_scratch=True)
    return {"grid_a": grid_a, "grid_b": grid_b, **{n: made[n][0] for n in PEOPLE}}


@pytest.fixture(scope="module")
def care_client(api_settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, clock=lambda: NOW)) as client:
        yield client


@pytest.fixture
def worker_a(world, make_actor):
    return make_actor("grid_worker", (world["grid_a"],))


def _pending(client, actor) -> dict[tuple[int, str], dict]:
    response = client.get("/care/groups/suggestions", headers=actor.headers)
    assert response.status_code == 200, response.text
    return {(s["resident_id"], s["grp"]): s for s in response.json()}


def test_the_data_suggests_who_lives_alone_and_who_cannot_get_about(care_client, world, worker_a):
    found = _pending(care_client, worker_a)
    ours = {key for key in found if key[0] in world.values()}
    assert ours == {
        (world["loner"], "living_alone"),
        (world["still"], "disabled"),
        (world["asker"], "disabled"),
    }
    assert found[(world["loner"], "living_alone")]["explanation"] == [
        "未登记家属；近 30 天在家 48 小时，从未有其他手环同在"
    ]
    assert found[(world["still"], "disabled")]["explanation"] == [
        "近 29 天每天步数的中位数只有 300 步"
    ]
    assert found[(world["asker"], "disabled")]["explanation"] == ["近 30 天提出了 4 次服务或求助"]


def test_a_suggestion_changes_nothing_until_a_person_confirms_it(care_client, world, worker_a):
    rid = world["loner"]
    suggestion = _pending(care_client, worker_a)[(rid, "living_alone")]
    profile = care_client.get(f"/residents/{rid}", headers=worker_a.headers).json()
    assert profile["living_alone"] is False
    response = care_client.post(
        f"/care/groups/suggestions/{suggestion['suggestion_id']}/decide",
        json={"decision": "confirm", "note": "上门核实"},
        headers=worker_a.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["decided_by"] == worker_a.account_id
    profile = care_client.get(f"/residents/{rid}", headers=worker_a.headers).json()
    assert profile["living_alone"] is True
    assert (rid, "living_alone") not in _pending(care_client, worker_a)


def test_a_rejected_suggestion_is_not_made_again(care_client, world, worker_a):
    rid = world["asker"]
    suggestion = _pending(care_client, worker_a)[(rid, "disabled")]
    response = care_client.post(
        f"/care/groups/suggestions/{suggestion['suggestion_id']}/decide",
        json={"decision": "reject"},
        headers=worker_a.headers,
    )
    assert response.status_code == 200
    assert (rid, "disabled") not in _pending(care_client, worker_a)
    profile = care_client.get(f"/residents/{rid}", headers=worker_a.headers).json()
    assert profile["disabled"] is False


def test_another_grids_suggestion_is_not_found(care_client, world, worker_a, make_actor):
    worker_b = make_actor("grid_worker", (world["grid_b"],))
    found = _pending(care_client, worker_b)
    (suggestion,) = [s for key, s in found.items() if key[0] == world["outsider"]]
    response = care_client.post(
        f"/care/groups/suggestions/{suggestion['suggestion_id']}/decide",
        json={"decision": "confirm"},
        headers=worker_a.headers,
    )
    assert response.status_code == 404
    assert (
        care_client.get(
            "/care/groups/suggestions", headers=make_actor("family").headers
        ).status_code
        == 403
    )


def _declare(db, rid: int, name: str) -> None:
    db.execute(
        "UPDATE residents SET low_income = true, full_name = %s WHERE resident_id = %s", (name, rid)
    )


def test_a_group_exports_as_csv_with_chinese_headers(care_client, world, worker_a, db):
    _declare(db, world["partner_1"], "李秀英")
    _declare(db, world["outsider"], "王外人")
    response = care_client.get(
        "/care/groups/low_income/export?format=csv", headers=worker_a.headers
    )
    assert response.status_code == 200
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff姓名,住址,电话,网格,出生日期,独居,失能/残疾,低收入")
    assert "李秀英,幸福里 3 号楼" in body and "王外人" not in body
    audited = db.execute(
        "SELECT count(*) FROM audit_log WHERE account_id = %s AND action = 'care.groups.export'",
        (worker_a.account_id,),
    ).fetchone()[0]
    assert audited == body.count("\n") - 1


def test_a_group_exports_as_excel_and_a_formula_in_a_name_stays_text(
    care_client, world, worker_a, db
):
    _declare(db, world["partner_2"], '=HYPERLINK("http://evil")')
    response = care_client.get(
        "/care/groups/low_income/export?format=xlsx", headers=worker_a.headers
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert sheet.title == "低收入老人"
    assert rows[0][:3] == ("姓名", "住址", "电话")
    names = [r[0] for r in rows[1:]]
    assert '\'=HYPERLINK("http://evil")' in names
    assert all(c.data_type == "s" for row in sheet.iter_rows() for c in row if c.value is not None)


def test_the_disabled_list_exports_as_excel_under_a_sheet_name_excel_accepts(care_client, worker_a):
    response = care_client.get("/care/groups/disabled/export?format=xlsx", headers=worker_a.headers)
    assert response.status_code == 200
    assert load_workbook(io.BytesIO(response.content)).active.title == "失能、残疾老人"


def test_a_control_character_in_a_name_exports_as_a_visible_mark_not_a_500(
    care_client, world, worker_a, db
):
    """Found by the API fuzzer: openpyxl refuses control characters in a cell."""
    _declare(db, world["partner_2"], "赵\x07丽")
    response = care_client.get(
        "/care/groups/low_income/export?format=xlsx", headers=worker_a.headers
    )
    assert response.status_code == 200
    names = [r[0] for r in load_workbook(io.BytesIO(response.content)).active.iter_rows(
        min_row=2, values_only=True)]  # fmt: skip
    assert "赵\ufffd丽" in names
