"""Shapes of time-bank postings and statements at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.fields import Int64
from api.pagination import Page

IdempotencyKey = Field(min_length=8, max_length=100, description="unique per intended posting")


class Redemption(BaseModel):
    """Pay for a booking with minutes: the caller's own, or the resident's (staff, on behalf)."""

    booking_id: Int64
    pay_from: Literal["self", "resident"]
    idempotency_key: str = IdempotencyKey


class Donation(BaseModel):
    resident_id: Int64
    minutes: int = Field(gt=0, le=100_000)
    idempotency_key: str = IdempotencyKey


class Transaction(BaseModel):
    txn_id: Int64
    idempotency_key: str
    kind: Literal["earn", "redeem", "donate"]
    author_id: Int64
    on_behalf_of: int | None
    booking_id: Int64 | None
    memo: str
    created_at: datetime


class StatementLine(Transaction):
    entry_id: Int64
    amount_min: int


class Statement(Page[StatementLine]):
    tb_account_id: Int64
    balance_min: int
