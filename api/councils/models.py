"""Shapes of councils: topics, meetings, votes, decisions and tasks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class TopicCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=4000)
    source: Literal["resident", "request", "staff"]
    resident_id: int | None = None


class TopicRead(TopicCreate):
    topic_id: int
    status: str
    created_at: datetime
    decided_at: datetime | None
    votes_for: int | None
    votes_against: int | None
    votes_abstain: int | None


class MeetingCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    place: str = Field(default="", max_length=200)
    starts_at: datetime
    topic_ids: list[int] = Field(min_length=1, max_length=50)


class MeetingRead(MeetingCreate):
    meeting_id: int


class Attendance(BaseModel):
    resident_ids: list[int] = Field(min_length=1, max_length=1000)


class VoteCreate(BaseModel):
    topic_id: int
    resident_id: int
    choice: Literal["for", "against", "abstain"]


class TaskCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    owner_account: int
    due_on: date


class Decision(BaseModel):
    task: TaskCreate | None = None


class TaskUpdate(BaseModel):
    done: bool = False
    progress_note: str = Field(default="", max_length=1000)


class TaskRead(BaseModel):
    task_id: int
    topic_id: int
    title: str
    owner_account: int
    due_on: date
    status: str
    progress_note: str
    done_at: datetime | None
    alert_id: int | None


class PublicDecision(BaseModel):
    topic_id: int
    title: str
    status: str
    status_text: str
    decided_at: datetime | None
    votes_for: int | None
    votes_against: int | None
    votes_abstain: int | None
    task_title: str | None
    owner_name: str | None
    due_on: date | None
    task_status: str | None
    task_status_text: str | None
    progress_note: str | None
    overdue: bool
