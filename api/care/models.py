"""Shapes of the daily check list and of calls and visits."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Reason(BaseModel):
    code: str
    text: str
    figures: dict[str, str | int | float | bool | None]


class DailyItem(BaseModel):
    resident_id: int
    full_name: str
    grid_id: int | None
    phone: str | None
    address: str
    handler: Literal["staff", "grid_worker"]
    reasons: list[Reason]
    last_contact_at: datetime | None
    last_contact_local: str | None
    last_outcome: str | None
    done_today: bool


class DailyList(BaseModel):
    generated_at: datetime
    generated_local: str
    # Band data stored up to this instant is in the list (the rollup job's last run);
    # None before its first run.
    data_until: datetime | None
    data_until_local: str | None
    items: list[DailyItem]


class ContactCreate(BaseModel):
    kind: Literal["call", "visit"]
    outcome: Literal["reached", "not_reached", "needs_follow_up"]
    reasons: list[str] = Field(default_factory=list, max_length=20)
    note: str = Field(default="", max_length=1000)


class ContactRead(ContactCreate):
    contact_id: int
    resident_id: int
    recorded_by: int
    at: datetime


class SuggestionRead(BaseModel):
    suggestion_id: int
    resident_id: int
    full_name: str
    grid_id: int | None
    grp: Literal["living_alone", "disabled", "low_income"]
    evidence: dict[str, dict[str, int]]
    explanation: list[str]
    status: Literal["pending", "confirmed", "rejected"]
    created_at: datetime
    decided_at: datetime | None
    decided_by: int | None
    note: str


class SuggestionDecision(BaseModel):
    decision: Literal["confirm", "reject"]
    note: str = Field(default="", max_length=500)


class EarlyWarning(BaseModel):
    alert_id: int
    status: str
    opened_at: datetime
    title: str
    explanation: str
    details: dict
