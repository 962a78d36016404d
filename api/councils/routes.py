"""Councils over HTTP: staff record topics, meetings, attendance and votes; the decisions
and their progress are public; overdue tasks escalate like alerts."""

from __future__ import annotations

import contextlib
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Request

from alerting.alerts import service as alerts
from api.access import reach_or_raise
from api.alerts.service import run_action, system_alerts_in_pool
from api.councils import service
from api.councils.models import (
    Attendance,
    Decision,
    MeetingCreate,
    MeetingRead,
    PublicDecision,
    TaskRead,
    TaskUpdate,
    TopicCreate,
    TopicRead,
    VoteCreate,
)
from api.deps import ALERT_CONSOLE_ROLES, STAFF_ALL, Conn, Principal, require_roles
from api.errors import ERROR_RESPONSES, Conflict
from eldercare.i18n import DEFAULT_TIME_ZONE, negotiate, text

router = APIRouter(prefix="/councils", tags=["councils"], responses=ERROR_RESPONSES)
Staff = Annotated[Principal, Depends(require_roles(*ALERT_CONSOLE_ROLES))]
Runner = Annotated[Principal, Depends(require_roles(*STAFF_ALL))]
AcceptLanguage = Annotated[str | None, Header()]


@router.post("/topics", response_model=TopicRead, status_code=201)
async def propose(request: Request, body: TopicCreate, conn: Conn, principal: Staff) -> dict:
    """Record a topic a resident proposed, one collected from requests, or staff's own."""
    if body.resident_id is not None:
        await reach_or_raise(conn=conn, principal=principal, resident_id=body.resident_id)
    return await service.create_topic(
        conn=conn, fields=body.model_dump(), created_by=principal.account_id,
        now=request.app.state.clock(),
    )  # fmt: skip


@router.get("/topics", response_model=list[TopicRead])
async def topics(
    conn: Conn, principal: Staff, status: Literal["proposed", "on_agenda"] | None = None
) -> list[dict]:
    """Topics, newest first."""
    return await service.list_topics(conn=conn, status=status)


@router.post("/meetings", response_model=MeetingRead, status_code=201)
async def create_meeting(body: MeetingCreate, conn: Conn, principal: Staff) -> dict:
    """A meeting and its agenda."""
    return await service.create_meeting(
        conn=conn, fields=body.model_dump(), created_by=principal.account_id
    )


@router.post("/meetings/{meeting_id}/attendance", status_code=204)
async def attendance(meeting_id: int, body: Attendance, conn: Conn, principal: Staff) -> None:
    """Record who came (residents in the caller's reach)."""
    await service.get_meeting_or_raise(conn=conn, meeting_id=meeting_id)
    for resident_id in body.resident_ids:
        await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
        await service.attend(conn=conn, meeting_id=meeting_id, resident_id=resident_id)


@router.post("/meetings/{meeting_id}/votes", status_code=201)
async def vote(
    request: Request, meeting_id: int, body: VoteCreate, conn: Conn, principal: Staff
) -> dict:
    """A resident's vote, one per household and topic."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=body.resident_id)
    return await service.vote(
        conn=conn, meeting_id=meeting_id, topic_id=body.topic_id, resident_id=body.resident_id,
        choice=body.choice, recorded_by=principal.account_id, now=request.app.state.clock(),
    )  # fmt: skip


@router.post("/meetings/{meeting_id}/topics/{topic_id}/decide", response_model=TopicRead)
async def decide(
    request: Request, meeting_id: int, topic_id: int, body: Decision, conn: Conn, principal: Runner
) -> dict:
    """Count the votes; carried topics become a task with an owner and a deadline."""
    task = body.task.model_dump() if body.task else None
    return await service.decide(
        conn=conn, meeting_id=meeting_id, topic_id=topic_id, task=task,
        now=request.app.state.clock(),
    )  # fmt: skip


@router.post("/tasks/{task_id}/progress", response_model=TaskRead)
async def update_task(
    request: Request, task_id: int, body: TaskUpdate, conn: Conn, principal: Staff
) -> dict:
    """Report progress or completion; completion resolves the task's overdue alert."""
    now = request.app.state.clock()
    task = await service.update_task(
        conn=conn, task_id=task_id, done=body.done, note=body.progress_note, now=now
    )
    if body.done and task["alert_id"] is not None:
        with contextlib.suppress(Conflict):  # already resolved by someone on the console
            await run_action(
                request.app.state.alert_action_pool, alerts.resolve, alert_id=task["alert_id"],
                actor=f"account:{principal.account_id}", resolution="council_task_done", now=now,
            )  # fmt: skip
    return task


@router.post("/tasks/escalate", response_model=list[TaskRead])
async def escalate(request: Request, conn: Conn, principal: Runner) -> list[dict]:
    """Open an alert for each overdue task (the director's ladder); safe to run again.
    `eldercare jobs` runs this on its own (`councils_escalation_interval_s`)."""
    return await service.escalate_overdue(
        conn=conn,
        raise_alert=system_alerts_in_pool(request.app.state.alert_action_pool),
        now=request.app.state.clock(),
        zone=ZoneInfo(DEFAULT_TIME_ZONE),
    )


@router.get("/public", response_model=list[PublicDecision])
async def public(request: Request, conn: Conn, accept_language: AcceptLanguage = None) -> list:
    """Every decision and its progress, for anyone (no login, no personal data)."""
    locale = negotiate(accept_language)
    today = request.app.state.clock().astimezone(ZoneInfo(DEFAULT_TIME_ZONE)).date()
    return [
        {
            **row,
            "status_text": text(f"council.status.{row['status']}", locale),
            "task_status_text": text(f"council.task.{row['task_status']}", locale)
            if row["task_status"]
            else None,
            "overdue": row["task_status"] == "open" and row["due_on"] < today,
        }
        for row in await service.public_decisions(conn=conn)
    ]
