"""A council from a resident's topic to a decided task, its overdue escalation on the alert
ladder, and the public page of decisions; one vote per household; access as elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.jobs import Jobs
from tests.api.care_support import NOW
from tests.support.wait import wait_until

CLOCK = {"now": NOW}


@pytest.fixture(scope="module")
def council_client(api_settings) -> Iterator[TestClient]:
    app = create_app(api_settings, clock=lambda: CLOCK["now"])
    with TestClient(app) as client:
        yield client


def _resident(db, grid_id: int, address: str) -> int:
    return db.execute(
        "INSERT INTO residents (full_name, grid_id, address) VALUES ('x', %s, %s)"
        " RETURNING resident_id",
        (grid_id, address),
    ).fetchone()[0]


def test_from_a_residents_topic_to_a_decided_task_and_its_overdue_escalation(
    council_client, db, make_grid, make_actor
):
    c = council_client
    grid_a, grid_b = make_grid(), make_grid()
    wife, husband = (
        _resident(db, grid_a, "幸福里3号楼201"),
        _resident(db, grid_a, " 幸福里3号楼201 "),
    )
    neighbour, other = (
        _resident(db, grid_a, "幸福里3号楼202"),
        _resident(db, grid_a, "幸福里3号楼203"),
    )
    stranger = _resident(db, grid_b, "别处")
    worker, duty = make_actor("grid_worker", (grid_a,)), make_actor("duty_staff")
    director = make_actor("community_director", (grid_a,))
    topic = {"title": "楼道加装扶手", "source": "resident", "resident_id": wife}
    assert c.post("/councils/topics", json={**topic, "resident_id": stranger},
                  headers=worker.headers).status_code == 404  # fmt: skip
    made = c.post("/councils/topics", json=topic, headers=worker.headers)
    assert made.status_code == 201, made.text
    tid = made.json()["topic_id"]
    meeting = c.post(
        "/councils/meetings",
        json={"title": "十一月议事会", "starts_at": NOW.isoformat(), "topic_ids": [tid]},
        headers=duty.headers,
    ).json()
    mid = meeting["meeting_id"]
    present = {"resident_ids": [wife, husband, neighbour, other]}
    assert c.post(f"/councils/meetings/{mid}/attendance", json=present,
                  headers=worker.headers).status_code == 204  # fmt: skip

    def vote(rid: int, choice: str) -> int:
        body = {"topic_id": tid, "resident_id": rid, "choice": choice}
        return c.post(
            f"/councils/meetings/{mid}/votes", json=body, headers=worker.headers
        ).status_code

    assert vote(wife, "for") == 201
    assert vote(husband, "for") == 409  # the same household has voted
    assert vote(neighbour, "for") == 201
    assert vote(other, "against") == 201
    decide = f"/councils/meetings/{mid}/topics/{tid}/decide"
    assert c.post(decide, json={}, headers=duty.headers).status_code == 422  # a task is needed
    task = {
        "title": "联系物业安装扶手",
        "owner_account": director.account_id,
        "due_on": "2026-11-25",
    }
    decided = c.post(decide, json={"task": task}, headers=duty.headers)
    assert decided.status_code == 200, decided.text
    assert (decided.json()["votes_for"], decided.json()["votes_against"]) == (2, 1)

    (public,) = [d for d in c.get("/councils/public").json() if d["topic_id"] == tid]
    assert public["status_text"] == "已通过" and public["task_status_text"] == "办理中"
    assert public["overdue"] is False

    CLOCK["now"] = NOW + timedelta(days=7)  # two days past the deadline
    try:
        raised = c.post("/councils/tasks/escalate", headers=duty.headers).json()
        (mine,) = [t for t in raised if t["topic_id"] == tid]
        alert = db.execute(
            "SELECT rule, status, title FROM alerts WHERE alert_id = %s", (mine["alert_id"],)
        ).fetchone()
        overdue = "议事会决定的事项“联系物业安装扶手”已超过期限（2026-11-25）仍未办结"
        assert alert == ("council_task_overdue", "open", overdue)
        pages = "SELECT count(*) FROM outbox WHERE alert_id = %s AND payload->>'target' = %s"
        assert db.execute(pages, (mine["alert_id"], "community_director")).fetchone()[0] == 1
        again = c.post("/councils/tasks/escalate", headers=duty.headers).json()
        assert [t["alert_id"] for t in again if t["topic_id"] == tid] == [mine["alert_id"]]
        assert db.execute(pages, (mine["alert_id"], "community_director")).fetchone()[0] == 1
        (public,) = [d for d in c.get("/councils/public").json() if d["topic_id"] == tid]
        assert public["overdue"] is True

        progress = {"done": True, "progress_note": "已安装"}
        path = f"/councils/tasks/{mine['task_id']}/progress"
        done = c.post(path, json=progress, headers=worker.headers)
        assert done.status_code == 200
        status = db.execute("SELECT status FROM alerts WHERE alert_id = %s", (mine["alert_id"],))
        assert status.fetchone()[0] == "resolved"
        (public,) = [d for d in c.get("/councils/public").json() if d["topic_id"] == tid]
        assert public["task_status_text"] == "已办结" and public["overdue"] is False
    finally:
        CLOCK["now"] = NOW


def test_family_and_volunteers_cannot_run_councils(council_client, make_actor):
    for role in ("family", "volunteer"):
        headers = make_actor(role).headers
        body = {"title": "x", "source": "staff"}
        assert (
            council_client.post("/councils/topics", json=body, headers=headers).status_code == 403
        )


def test_eldercare_jobs_escalates_an_overdue_task_without_anyone_asking(
    db, api_settings, make_actor
):
    """Escalation runs in `eldercare jobs` on its own: the director is paged for the task."""
    owner = make_actor("community_director")
    (topic,) = db.execute(
        """INSERT INTO council_topics (title, source, status, created_by, created_at, decided_at)
           VALUES ('修缮单元门', 'staff', 'decided', %s, %s, %s) RETURNING topic_id""",
        (owner.account_id, NOW - timedelta(days=20), NOW - timedelta(days=20)),
    ).fetchone()
    (task,) = db.execute(
        """INSERT INTO council_tasks (topic_id, title, owner_account, due_on, created_at)
           VALUES (%s, '联系物业修门', %s, %s, %s) RETURNING task_id""",
        (topic, owner.account_id, (NOW - timedelta(days=3)).date(), NOW - timedelta(days=20)),
    ).fetchone()
    linked = "SELECT alert_id FROM council_tasks WHERE task_id = %s"
    jobs = Jobs(api_settings, clock=lambda: NOW)
    jobs.start(only={"council-escalation"})
    try:
        alert_id = wait_until(lambda: db.execute(linked, (task,)).fetchone()[0], timeout_s=60)
        pages = """SELECT count(*) FROM outbox WHERE alert_id = %s
                   AND payload->>'target' = 'community_director'"""
        wait_until(lambda: db.execute(pages, (alert_id,)).fetchone()[0] == 1, timeout_s=60)
    finally:
        jobs.stop()
        db.execute("UPDATE council_tasks SET status = 'done', done_at = %s WHERE task_id = %s",
                   (NOW, task))  # fmt: skip
    alert = db.execute("SELECT rule, status, title FROM alerts WHERE alert_id = %s", (alert_id,))
    overdue = "议事会决定的事项“联系物业修门”已超过期限（2026-11-17）仍未办结"
    assert alert.fetchone() == ("council_task_overdue", "open", overdue)
