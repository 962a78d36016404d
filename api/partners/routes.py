"""The resource list over HTTP: partners and offers for everyone logged in; staff add
partners, name the partner that serves a booking or a request, record quality, read monthly
summaries."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Query, Request

from api.access import reach_or_raise
from api.deps import (
    ALERT_CONSOLE_ROLES,
    RESIDENT_READERS,
    STAFF_ALL,
    Conn,
    Principal,
    require_roles,
)
from api.errors import ERROR_RESPONSES, Invalid
from api.partners import service
from api.partners.models import (
    BookingPartner,
    MonthlySummary,
    PartnerCreate,
    PartnerRead,
    ReviewCreate,
    ReviewRead,
)
from eldercare.i18n import DEFAULT_TIME_ZONE, negotiate, text

router = APIRouter(prefix="/partners", tags=["partners"], responses=ERROR_RESPONSES)
Admin = Annotated[Principal, Depends(require_roles(*STAFF_ALL))]
Staff = Annotated[Principal, Depends(require_roles(*ALERT_CONSOLE_ROLES))]
Reader = Annotated[Principal, Depends(require_roles(*RESIDENT_READERS))]
Category = Literal["clinic", "tutoring", "training", "household", "other"]


@router.post("", response_model=PartnerRead, status_code=201)
async def create_partner(body: PartnerCreate, conn: Conn, principal: Admin) -> dict:
    """A partner unit and what it offers."""
    return await service.create(conn=conn, fields=body.model_dump())


@router.get("", response_model=list[PartnerRead])
async def list_partners(
    conn: Conn, principal: Reader, category: Annotated[Category | None, Query()] = None
) -> list[dict]:
    """Active partners and offers: opening times, weekly capacity, residents' discount."""
    return await service.list_active(conn=conn, category=category)


@router.put("/bookings/{booking_id}", status_code=200)
async def name_partner(
    request: Request, booking_id: int, body: BookingPartner, conn: Conn, principal: Staff
) -> dict:
    """Name the partner (and offer) that serves a booking of a resident in reach."""
    resident_id = await service.booking_resident(conn=conn, booking_id=booking_id)
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    return await service.link_partner(
        conn=conn, key="booking_id", key_id=booking_id, partner_id=body.partner_id,
        offer_id=body.offer_id, by=principal.account_id, now=request.app.state.clock(),
    )  # fmt: skip


@router.put("/requests/{request_id}", status_code=200)
async def name_partner_for_request(
    request: Request, request_id: int, body: BookingPartner, conn: Conn, principal: Staff
) -> dict:
    """Name the partner (and offer) that serves a resident's request the caller may see."""
    await service.visible_request_or_raise(conn=conn, principal=principal, request_id=request_id)
    return await service.link_partner(
        conn=conn, key="request_id", key_id=request_id, partner_id=body.partner_id,
        offer_id=body.offer_id, by=principal.account_id, now=request.app.state.clock(),
    )  # fmt: skip


@router.post("/{partner_id}/reviews", response_model=ReviewRead, status_code=201)
async def review(
    request: Request, partner_id: int, body: ReviewCreate, conn: Conn, principal: Staff
) -> dict:
    """Record how well a partner served (1-5), optionally for one booking."""
    if body.booking_id is not None:
        resident_id = await service.booking_resident(conn=conn, booking_id=body.booking_id)
        await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    return await service.review(
        conn=conn, partner_id=partner_id, fields=body.model_dump(), by=principal.account_id,
        now=request.app.state.clock(),
    )  # fmt: skip


@router.get("/{partner_id}/summary", response_model=MonthlySummary)
async def summary(
    partner_id: int,
    conn: Conn,
    principal: Staff,
    month: Annotated[str, Query(description="YYYY-MM")],
    accept_language: Annotated[str | None, Header()] = None,
) -> dict:
    """One partner's month: bookings, completions, capacity used, service quality."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise Invalid("month is YYYY-MM", month=month)
    first = date(int(month[:4]), int(month[5:]), 1)
    found = await service.monthly_summary(
        conn=conn, partner_id=partner_id, month=first, zone=ZoneInfo(DEFAULT_TIME_ZONE)
    )
    words = {k: "-" if v is None else v for k, v in found.items()}
    return {**found, "text": text("partner.summary", negotiate(accept_language), **words)}
