"""Shapes of accounts, tokens and grids at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.fields import Int64

Role = Literal[
    "admin",
    "duty_staff",
    "grid_worker",
    "community_director",
    "street_officer",
    "family",
    "volunteer",
    "department_staff",
]

Locale = Literal["zh_CN", "en"]


class AccountCreate(BaseModel):
    username: str = Field(pattern=r"^[a-z0-9_.@-]{3,64}$")
    password: str = Field(min_length=10, max_length=200)
    full_name: str = Field(default="", max_length=200)
    role: Role
    grid_ids: list[int] = Field(default=[], max_length=100)


class AccountRead(BaseModel):
    account_id: Int64
    username: str
    full_name: str
    role: Role
    disabled: bool
    grid_ids: list[int]
    created_at: datetime
    locale: Locale | None = Field(description="preferred language; null follows the browser")


class LocaleChoice(BaseModel):
    locale: Locale | None = Field(description="zh_CN or en; null follows the browser")


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - OAuth2 token type, not a secret
    expires_in: int


class GridCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class GridRead(BaseModel):
    grid_id: Int64
    name: str
