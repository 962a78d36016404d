"""Shapes of a resident's vital-sign history: time_bucket aggregates and the thresholds."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class VitalsBucket(BaseModel):
    """One bucket of samples: heart rate range and mean, blood pressure, the step counter."""

    t: datetime = Field(description="start of the bucket")
    hr_avg: float | None
    hr_min: int | None
    hr_max: int | None
    sbp_max: int | None
    dbp_max: int | None
    sbp_avg: float | None
    dbp_avg: float | None
    steps: int | None = Field(description="the step counter's highest value in the bucket")
    samples: int


class VitalsThresholds(BaseModel):
    """The engine's thresholds for this resident (overrides applied), for drawing."""

    tachycardia_bpm: float
    bradycardia_bpm: float
    crisis_sbp: float
    crisis_dbp: float
    hypotension_sbp: float


class VitalsHistory(BaseModel):
    resident_id: int
    start: datetime
    end: datetime
    bucket_s: int
    items: list[VitalsBucket]
    thresholds: VitalsThresholds
