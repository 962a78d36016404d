"""Family location and vitals: every read is audited and rate-limited per caller."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import Conn, Purpose, RedisDep, SettingsDep, TokenAccountId
from api.errors import ERROR_RESPONSES, Invalid
from api.fields import Int64, IsoTime
from api.location import service
from api.location.models import Datum, Fix, LatestLocation, LatestVitals, LocationHistory
from api.pagination import Page, Paging, make_page

router = APIRouter(prefix="/residents", tags=["location"], responses=ERROR_RESPONSES)
DatumQuery = Annotated[Datum, Query(description="datum of the coordinates returned")]


def _limit(request: Request, account_id: Int64) -> None:
    request.app.state.location_limiter.hit(str(account_id))


@router.get("/{resident_id}/location/latest", response_model=LatestLocation)
async def latest_location(
    resident_id: Int64,
    request: Request,
    conn: Conn,
    redis: RedisDep,
    settings: SettingsDep,
    account_id: TokenAccountId,
    datum: DatumQuery = "wgs84",
    purpose: Purpose = None,
) -> dict:
    """The resident's latest position with its accuracy and age."""
    _limit(request, account_id)
    band = await service.reach_and_audit(
        conn=conn,
        account_id=account_id,
        resident_id=resident_id,
        action="location.latest",
        purpose=purpose,
    )
    state = await service.band_state(
        redis=redis,
        prefix=settings.redis_prefix,
        device_id=band["device_id"],
        fields=service.LOCATION_FIELDS,
    )
    return service.latest_location(
        resident_id=resident_id,
        band=band,
        state=state,
        datum=datum,
        now=request.app.state.clock(),
    )


@router.get("/{resident_id}/location/history", response_model=LocationHistory)
async def location_history(
    resident_id: Int64,
    request: Request,
    conn: Conn,
    settings: SettingsDep,
    account_id: TokenAccountId,
    page: Paging,
    start: Annotated[IsoTime, Query(description="inclusive, with a timezone")],
    end: Annotated[IsoTime | None, Query(description="exclusive; default now")] = None,
    datum: DatumQuery = "wgs84",
    purpose: Purpose = None,
) -> Page[Fix]:
    """The resident's positions over a bounded time range, oldest first."""
    _limit(request, account_id)
    end = end or request.app.state.clock()
    if not start < end:
        raise Invalid("start must be before end")
    if end - start > timedelta(hours=settings.api_location_history_max_hours):
        raise Invalid("time range too long", max_hours=settings.api_location_history_max_hours)
    await service.reach_and_audit(
        conn=conn,
        account_id=account_id,
        resident_id=resident_id,
        action="location.history",
        purpose=purpose,
    )
    rows = await service.history(
        conn=conn,
        resident_id=resident_id,
        start=start,
        end=end,
        datum=datum,
        limit=page.limit + 1,
        offset=page.offset,
    )
    return make_page(
        rows,
        page,
        Fix,
        page_model=LocationHistory,
        resident_id=resident_id,
        datum=datum,
        start=start,
        end=end,
    )


@router.get("/{resident_id}/vitals/latest", response_model=LatestVitals, tags=["vitals"])
async def latest_vitals(
    resident_id: Int64,
    request: Request,
    conn: Conn,
    redis: RedisDep,
    settings: SettingsDep,
    account_id: TokenAccountId,
    purpose: Purpose = None,
) -> dict:
    """The resident's latest vital signs."""
    _limit(request, account_id)
    band = await service.reach_and_audit(
        conn=conn,
        account_id=account_id,
        resident_id=resident_id,
        action="vitals.latest",
        purpose=purpose,
    )
    state = await service.band_state(
        redis=redis,
        prefix=settings.redis_prefix,
        device_id=band["device_id"],
        fields=service.VITALS_FIELDS,
    )
    return service.latest_vitals(resident_id=resident_id, band=band, state=state)
