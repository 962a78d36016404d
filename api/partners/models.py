"""Shapes of partners, offers, reviews and monthly summaries."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class OfferCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    category: Literal["clinic", "tutoring", "training", "household", "other"]
    discount_pct: int = Field(default=0, ge=0, le=100)
    opening_hours: str = Field(default="", max_length=200)
    capacity_per_week: int | None = Field(default=None, gt=0)


class OfferRead(OfferCreate):
    offer_id: int
    partner_id: int


class PartnerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["hospital", "school", "company", "service_station", "other"]
    phone: str = Field(default="", max_length=50)
    address: str = Field(default="", max_length=300)
    offers: list[OfferCreate] = Field(default_factory=list, max_length=50)


class PartnerRead(BaseModel):
    partner_id: int
    name: str
    kind: str
    phone: str
    address: str
    offers: list[OfferRead]


class BookingPartner(BaseModel):
    partner_id: int
    offer_id: int | None = None


class ReviewCreate(BaseModel):
    rating: int = Field(ge=1, le=5)
    booking_id: int | None = None
    note: str = Field(default="", max_length=1000)


class ReviewRead(ReviewCreate):
    review_id: int
    partner_id: int
    recorded_by: int
    at: datetime


class MonthlySummary(BaseModel):
    partner_id: int
    name: str
    month: str
    bookings: int
    completed: int
    cancelled: int
    capacity: int | None
    capacity_used_pct: float | None
    reviews: int
    mean_rating: float | None
    text: str
