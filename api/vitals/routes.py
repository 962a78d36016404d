"""Vital-sign history: reach-checked, audited like a location read, over a bounded range."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from api.deps import Conn, SettingsDep, TokenAccountId
from api.errors import ERROR_RESPONSES, Invalid
from api.location.service import reach_and_audit
from api.vitals import service
from api.vitals.models import VitalsHistory

router = APIRouter(prefix="/residents", tags=["vitals"], responses=ERROR_RESPONSES)
Purpose = Annotated[str | None, Query(min_length=1, max_length=200, description="why you ask")]


@router.get("/{resident_id}/vitals/history", response_model=VitalsHistory)
async def vitals_history(
    resident_id: int,
    request: Request,
    conn: Conn,
    settings: SettingsDep,
    account_id: TokenAccountId,
    start: Annotated[AwareDatetime, Query(description="inclusive, with a timezone")],
    end: Annotated[AwareDatetime | None, Query(description="exclusive; default now")] = None,
    purpose: Purpose = None,
) -> dict:
    """Heart rate, blood pressure and steps in time buckets, with the alert thresholds."""
    request.app.state.location_limiter.hit(str(account_id))
    end = end or request.app.state.clock()
    if not start < end:
        raise Invalid("start must be before end")
    if end - start > timedelta(hours=settings.api_location_history_max_hours):
        raise Invalid("time range too long", max_hours=settings.api_location_history_max_hours)
    await reach_and_audit(
        conn=conn,
        account_id=account_id,
        resident_id=resident_id,
        action="vitals.history",
        purpose=purpose,
    )
    bucket = service.bucket_for(start, end)
    return {
        "resident_id": resident_id,
        "start": start,
        "end": end,
        "bucket_s": int(bucket.total_seconds()),
        "items": await service.history(
            conn=conn, resident_id=resident_id, start=start, end=end, bucket=bucket
        ),
        "thresholds": await service.thresholds(conn=conn, resident_id=resident_id),
    }
