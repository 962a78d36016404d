"""Shapes of residents' requests at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

Channel = Literal["app", "family", "hotline", "walk_in", "visit", "grid_worker"]
RequestStatus = Literal["open", "acknowledged", "resolved"]
Category = str  # a row of request_categories; checked by the service


class RequestCreate(BaseModel):
    """A new request: what (Chinese text), about whom (optional), where (address or point)."""

    text: str = Field(min_length=1, max_length=2000)
    resident_id: int | None = None
    category: Category | None = Field(default=None, pattern=r"^[a-z_]{2,40}$")
    address: str = Field(default="", max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    channel: Channel | None = Field(
        default=None, description="staff: hotline, walk_in or visit; others are set for you"
    )

    @model_validator(mode="after")
    def _point_whole(self) -> RequestCreate:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if not self.address and self.lat is None and self.resident_id is None:
            raise ValueError("say where: an address, a point, or the resident")
        return self


class RequestSummary(BaseModel):
    request_id: int
    number: str
    category: str
    status: RequestStatus
    channel: str
    resident_id: int | None
    grid_id: int | None
    address: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    first_reply_at: datetime | None
    difficult_since: datetime | None
    reopen_count: int
    repeat_of: int | None
    age_h: float
    urgency: int = Field(description="0 most urgent: difficult, promise due, unacknowledged")


class RequestRead(RequestSummary):
    text: str
    lat: float | None
    lon: float | None
    resident_name: str | None = None
    resident_phone: str | None = None
    history: list[RequestSummary] = []


class PublicRequest(BaseModel):
    """What the requester sees: progress, never staff-internal notes."""

    request_id: int
    number: str
    category: str
    status: RequestStatus
    text: str
    address: str
    opened_at: datetime
    resolved_at: datetime | None
    reopen_count: int


class TimelineEntry(BaseModel):
    request_event_id: int
    at: datetime
    actor: str
    kind: str
    public: bool
    data: dict[str, Any]


class Timeline(BaseModel):
    request_id: int
    items: list[TimelineEntry]


class ReplyBody(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    public: bool = Field(default=True, description="false: a staff-internal note")


class ResolveBody(BaseModel):
    resolution: str = Field(min_length=1, max_length=1000)


class RatingBody(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=500)


class PolicyBody(BaseModel):
    steps: list[dict[str, Any]] = Field(min_length=1, max_length=20)


class Policy(BaseModel):
    category: str
    policy_id: str
    steps: list[dict[str, Any]]


class DepartmentWanted(BaseModel):
    code: str = Field(pattern=r"^[a-z_]{2,40}$")
    due_hours: float = Field(gt=0, le=24 * 30, description="hours the department has to report")


class SummonBody(BaseModel):
    departments: list[DepartmentWanted] = Field(min_length=1, max_length=10)


class DepartmentReport(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


class DepartmentState(BaseModel):
    code: str
    name: str
    request_id: int
    summoned_at: datetime
    due_at: datetime
    acknowledged_at: datetime | None
    reported_at: datetime | None
    report: str | None
    overdue: bool


class OverdueDepartment(DepartmentState):
    number: str
