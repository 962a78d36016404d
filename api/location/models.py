"""Shapes of positions and vitals at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from api.fields import Int64
from api.pagination import Page

Datum = Literal["wgs84", "gcj02"]


class Fix(BaseModel):
    t: datetime
    lat: float
    lon: float
    acc_m: float
    src: str


class LatestFix(Fix):
    age_s: float


class LatestLocation(BaseModel):
    resident_id: Int64
    device_id: str | None
    datum: Datum
    fix: LatestFix | None
    online: bool | None
    battery: int | None
    last_seen: datetime | None


class LocationHistory(Page[Fix]):
    resident_id: Int64
    datum: Datum
    start: datetime
    end: datetime


class LatestVitals(BaseModel):
    resident_id: Int64
    device_id: str | None
    t: datetime | None
    hr: int | None
    sbp: int | None
    dbp: int | None
    steps: int | None
    worn: bool | None
