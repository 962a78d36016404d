"""Shapes of what a family member sees of their elder's urgent alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from api.alerts.models import AlertStatus


class StaffAction(BaseModel):
    """One thing staff did about an alert (notes are staff-internal and not shown)."""

    at: datetime
    kind: str
    actor_name: str | None
    data: dict[str, Any]


class FamilyAlert(BaseModel):
    alert_id: int
    rule: str
    status: AlertStatus
    opened_at: datetime
    actions: list[StaffAction]


class AlertToRate(BaseModel):
    """A resolved SOS or fall the family may rate (and has not yet)."""

    alert_id: int
    rule: str
    opened_at: datetime
    resolved_at: datetime


class FamilyAlerts(BaseModel):
    resident_id: int
    items: list[FamilyAlert]
    to_rate: list[AlertToRate] = []


class AlertRated(BaseModel):
    alert_id: int
    score: int
    to_director: bool
