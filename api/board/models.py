"""Shapes of the duty board: residents in reach with their band's state and last position."""

from __future__ import annotations

from pydantic import BaseModel

from api.location.models import LatestLocation


class BoardResident(BaseModel):
    """One resident as the console's list and map show them."""

    resident_id: int
    full_name: str
    grid_id: int | None
    living_alone: bool
    disabled: bool
    low_income: bool
    timezone: str
    worn: bool | None
    location: LatestLocation
