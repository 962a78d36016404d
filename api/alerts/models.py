"""Shapes of alerts, their timeline and the console's actions at the edge."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.fields import Int64
from api.location.models import LatestLocation

AlertStatus = Literal["open", "acknowledged", "resolved"]
AlertOrder = Literal["newest", "priority"]


class AlertSummary(BaseModel):
    """What a list shows: no position (reading one is audited, see AlertRead)."""

    alert_id: Int64
    rule: str
    title: str
    severity: int = Field(description="1 low .. 4 critical")
    priority: int = Field(description="1 most urgent .. 5")
    status: AlertStatus
    resident_id: Int64 | None
    resident_name: str | None
    grid_id: Int64 | None
    device_id: str | None
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    assignee: str | None
    updated_at: datetime
    has_position: bool
    resident_timezone: str | None = Field(default=None, description="IANA zone for local times")


class AlertPosition(BaseModel):
    """Where the condition was observed (in the datum asked for), if the alert carries it."""

    lat: float
    lon: float
    acc_m: float | None


class Contact(BaseModel):
    name: str
    relation: str
    phone: str


class AlertResident(BaseModel):
    resident_id: Int64
    full_name: str
    birth_date: date | None
    sex: str | None
    address: str
    phone: str | None
    grid_id: Int64 | None
    living_alone: bool
    disabled: bool
    low_income: bool
    timezone: str
    medical_notes: str
    contacts: list[Contact]


class AlertRead(AlertSummary):
    """One alert with what the duty console needs to act: details, resident, positions."""

    details: dict[str, Any]
    position: AlertPosition | None
    resident: AlertResident | None
    last_location: LatestLocation | None


class TimelineEntry(BaseModel):
    alert_event_id: Int64
    at: datetime
    actor: str
    actor_name: str | None = Field(default=None, description="the account's name, if a person")
    kind: str
    data: dict[str, Any]


class Timeline(BaseModel):
    alert_id: Int64
    items: list[TimelineEntry]


class AssignBody(BaseModel):
    assignee: str | None = Field(max_length=200, description="who works on it; null clears")


class NoteBody(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class ResolveBody(BaseModel):
    resolution: str = Field(min_length=1, max_length=500)
