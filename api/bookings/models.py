"""Shapes of the service catalog, providers and bookings at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.fields import Int64, IsoTime

ServiceCode = Literal["meal", "haircut", "housekeeping", "escort"]
Status = Literal["requested", "confirmed", "in_progress", "completed", "cancelled"]


class CatalogItem(BaseModel):
    service: str
    name: str
    duration_min: int


class ProviderCreate(BaseModel):
    kind: Literal["company", "volunteer"]
    name: str = Field(min_length=1, max_length=200)
    account_id: Int64 | None = Field(default=None, description="the volunteer's account")


class ProviderRead(ProviderCreate):
    provider_id: Int64


class BookingCreate(BaseModel):
    resident_id: Int64
    service: ServiceCode
    note: str = Field(default="", max_length=500)


class BookingSchedule(BaseModel):
    """Assign a provider and a start time; the slot lasts the service's duration."""

    provider_id: Int64
    start: IsoTime


class BookingRead(BaseModel):
    booking_id: Int64
    resident_id: Int64
    service: str
    provider_id: Int64 | None
    slot_start: datetime | None
    slot_end: datetime | None
    status: Status
    source: Literal["staff", "family", "band"]
    created_by: int | None
    device_id: str | None
    event_id: str | None
    requested_at: datetime
    note: str
    completion_confirmed_at: datetime | None
    completion_confirmed_by: int | None
    confirmed_on_behalf: bool
