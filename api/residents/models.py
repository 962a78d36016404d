"""Shapes of residents, contacts, family links and threshold overrides at the edge."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from alerting.rules.thresholds import defaults, override_error
from api.fields import Int64

# `localtime` is the host's own zone, not a place.
ZONE_NAMES = frozenset(available_timezones() - {"localtime"})
# POSIX-style offsets read backwards: Etc/GMT-8 is UTC+8, and PostgreSQL takes UTC+8 as UTC-8.
OFFSET_NAME = re.compile(r"(^|/)(UTC|GMT)[+-]")


def _place_zone(name: str) -> str:
    if name not in ZONE_NAMES or OFFSET_NAME.search(name):
        raise ValueError(
            f"unknown time zone {name!r}: give an IANA place name such as Asia/Shanghai"
            " (offsets such as UTC+8 are refused: their sign is read reversed)"
        )
    return name


TimeZone = Annotated[
    str,
    Field(max_length=64, description="IANA time zone name", examples=["Asia/Shanghai"]),
    AfterValidator(_place_zone),
]


class ResidentFields(BaseModel):
    birth_date: date | None = None
    sex: Literal["female", "male", "other"] | None = None
    address: str = Field(default="", max_length=500)
    phone: str | None = Field(default=None, max_length=40)
    grid_id: Int64 | None = None
    living_alone: bool = False
    disabled: bool = False
    low_income: bool = False
    medical_notes: str = Field(default="", max_length=5000)
    timezone: TimeZone = "Asia/Shanghai"
    home_lat: float | None = Field(default=None, ge=-90, le=90)
    home_lon: float | None = Field(default=None, ge=-180, le=180)


class ResidentCreate(ResidentFields):
    full_name: str = Field(min_length=1, max_length=200)


# Fields a PATCH may leave out but not set to null (the database column is NOT NULL).
NOT_CLEARABLE = frozenset(
    {"full_name", "address", "living_alone", "disabled", "low_income", "medical_notes", "timezone"}
)


def _null_only_where_clearable(schema: dict[str, Any]) -> None:
    """The document says what the server checks: null is refused for NOT_CLEARABLE fields."""
    for name in NOT_CLEARABLE:
        prop = schema["properties"][name]
        kept = [s for s in prop.pop("anyOf", []) if s.get("type") != "null"]
        if len(kept) == 1:
            prop.update(kept[0])
        prop.pop("default", None)


class ResidentUpdate(BaseModel):
    """Only the fields given are changed; null clears a field where that is allowed."""

    model_config = ConfigDict(json_schema_extra=_null_only_where_clearable)

    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    birth_date: date | None = None
    sex: Literal["female", "male", "other"] | None = None
    address: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=40)
    grid_id: Int64 | None = None
    living_alone: bool | None = None
    disabled: bool | None = None
    low_income: bool | None = None
    medical_notes: str | None = Field(default=None, max_length=5000)
    timezone: TimeZone | None = None
    home_lat: float | None = Field(default=None, ge=-90, le=90)
    home_lon: float | None = Field(default=None, ge=-180, le=180)


class ResidentRead(ResidentFields):
    resident_id: Int64
    timezone: str  # rows stored before zones were checked must still read
    full_name: str
    created_at: datetime
    device_ids: list[str]


class ContactCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    relation: str = Field(default="", max_length=50)
    phone: str = Field(min_length=3, max_length=40)
    priority: int = Field(default=1, ge=1, le=9)


class ContactRead(ContactCreate):
    contact_id: Int64
    resident_id: Int64


class FamilyLinkCreate(BaseModel):
    """Recording a family link is recording the resident's consent to it."""

    account_id: Int64
    relation: str = Field(default="", max_length=50)
    consent_method: Literal["written", "verbal_witnessed", "in_app", "guardian"]
    consent_note: str = Field(default="", max_length=500)


class FamilyLinkRead(BaseModel):
    link_id: Int64
    resident_id: Int64
    account_id: Int64
    relation: str
    consent_method: str
    consent_note: str
    consent_recorded_by: int
    consent_given_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: int | None


class Thresholds(BaseModel):
    """Per-resident overrides of the alerting engine's thresholds: name -> value.

    Names and units are those of the engine's defaults (`defaults` in the GET response);
    a name left out uses its default.
    """

    overrides: dict[str, float] = Field(
        default={}, max_length=len(defaults()), examples=[{"tachycardia_bpm": 130}]
    )

    @field_validator("overrides")
    @classmethod
    def _known_and_in_range(cls, overrides: dict[str, float]) -> dict[str, float]:
        errors = [e for name, v in overrides.items() if (e := override_error(name, v))]
        if errors:
            raise ValueError("; ".join(errors))
        return overrides


class ThresholdsRead(BaseModel):
    resident_id: Int64
    overrides: dict[str, float]  # not re-checked: names stored before the check still read
    defaults: dict[str, float]
    updated_at: datetime | None
    updated_by: int | None
