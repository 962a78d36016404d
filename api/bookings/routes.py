"""Service bookings: catalog, providers, lifecycle, and recipients' confirmation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.access import reach_or_raise
from api.bookings import service
from api.bookings.models import (
    BookingCreate,
    BookingRead,
    BookingSchedule,
    CatalogItem,
    ProviderCreate,
    ProviderRead,
    Status,
)
from api.deps import RESIDENT_EDITORS, STAFF_ALL, Conn, CurrentUser, Principal, require_roles
from api.errors import ERROR_RESPONSES, Conflict, Forbidden
from api.fields import Int64
from api.pagination import Page, PageParams, Paging, make_page
from api.timebank.service import earn_for_booking

router = APIRouter(tags=["bookings"], responses=ERROR_RESPONSES)
Editor = Annotated[Principal, Depends(require_roles(*RESIDENT_EDITORS))]
Requester = Annotated[Principal, Depends(require_roles(*RESIDENT_EDITORS, "family"))]


@router.get("/bookings/catalog", response_model=Page[CatalogItem])
async def catalog(conn: Conn, _principal: CurrentUser) -> Page[CatalogItem]:
    """Services that can be booked, with their duration."""
    rows = await service.list_catalog(conn=conn)
    return make_page(rows, PageParams(limit=100, offset=0), CatalogItem)


@router.post(
    "/providers",
    response_model=ProviderRead,
    status_code=201,
    dependencies=[Depends(require_roles(*STAFF_ALL))],
)
async def create_provider(body: ProviderCreate, conn: Conn) -> dict:
    """Register a company or volunteer provider (admin, duty staff)."""
    return await service.create_provider(conn=conn, fields=body.model_dump())


@router.get(
    "/providers",
    response_model=Page[ProviderRead],
    dependencies=[Depends(require_roles(*RESIDENT_EDITORS))],
)
async def list_providers(conn: Conn, page: Paging) -> Page[ProviderRead]:
    """Providers (staff)."""
    rows = await service.list_providers(conn=conn, limit=page.limit + 1, offset=page.offset)
    return make_page(rows, page, ProviderRead)


@router.post("/bookings", response_model=BookingRead, status_code=201)
async def create_booking(body: BookingCreate, conn: Conn, principal: Requester) -> dict:
    """Request a service for a resident (staff or linked family)."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=body.resident_id)
    return await service.create(
        conn=conn,
        principal=principal,
        resident_id=body.resident_id,
        service=body.service,
        note=body.note,
    )


@router.get("/bookings", response_model=Page[BookingRead])
async def list_bookings(
    conn: Conn,
    principal: CurrentUser,
    page: Paging,
    resident_id: Annotated[Int64 | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
) -> Page[BookingRead]:
    """Bookings the caller may see (volunteers: those they provide)."""
    rows = await service.list_visible(
        conn=conn,
        principal=principal,
        resident_id=resident_id,
        status=status,
        limit=page.limit + 1,
        offset=page.offset,
    )
    return make_page(rows, page, BookingRead)


@router.get("/bookings/{booking_id}", response_model=BookingRead)
async def get_booking(booking_id: Int64, conn: Conn, principal: CurrentUser) -> dict:
    """One booking."""
    return await service.get_visible_or_raise(conn=conn, principal=principal, booking_id=booking_id)


@router.post("/bookings/{booking_id}/schedule", response_model=BookingRead)
async def schedule_booking(
    booking_id: Int64, body: BookingSchedule, conn: Conn, principal: Editor
) -> dict:
    """Confirm a booking with a provider and time slot (no double-booking of the provider)."""
    await service.get_visible_or_raise(conn=conn, principal=principal, booking_id=booking_id)
    return await service.schedule(
        conn=conn, booking_id=booking_id, provider_id=body.provider_id, start=body.start
    )


async def _provider_or_editor(conn, principal: Principal, booking_id: Int64) -> None:
    booking = await service.get_visible_or_raise(
        conn=conn, principal=principal, booking_id=booking_id
    )
    is_provider = booking["provider_account_id"] == principal.account_id
    if not is_provider and principal.role not in RESIDENT_EDITORS:
        raise Forbidden("only the provider or staff may do this")


@router.post("/bookings/{booking_id}/start", response_model=BookingRead)
async def start_booking(booking_id: Int64, conn: Conn, principal: CurrentUser) -> dict:
    """The provider starts the service."""
    await _provider_or_editor(conn, principal, booking_id)
    return await service.transition(conn=conn, booking_id=booking_id, to="in_progress")


@router.post("/bookings/{booking_id}/complete", response_model=BookingRead)
async def complete_booking(booking_id: Int64, conn: Conn, principal: CurrentUser) -> dict:
    """The provider reports the service done."""
    await _provider_or_editor(conn, principal, booking_id)
    return await service.transition(conn=conn, booking_id=booking_id, to="completed")


@router.post("/bookings/{booking_id}/cancel", response_model=BookingRead)
async def cancel_booking(booking_id: Int64, conn: Conn, principal: Requester) -> dict:
    """Cancel a booking that is not completed (staff or the resident's family)."""
    await service.get_visible_or_raise(conn=conn, principal=principal, booking_id=booking_id)
    return await service.transition(conn=conn, booking_id=booking_id, to="cancelled")


@router.post("/bookings/{booking_id}/confirm-completion", response_model=BookingRead)
async def confirm_completion(booking_id: Int64, conn: Conn, principal: Requester) -> dict:
    """The recipient's side (family, or staff on the elder's behalf) confirms the service was
    delivered; a volunteer provider then earns its minutes, once."""
    booking = await service.get_visible_or_raise(
        conn=conn, principal=principal, booking_id=booking_id
    )
    async with conn.transaction():
        confirmed = await service.confirm_completion(
            conn=conn,
            booking_id=booking_id,
            confirmed_by=principal.account_id,
            on_behalf=principal.role != "family",
        )
        if confirmed is None:
            if booking["status"] != "completed":
                raise Conflict("only a completed booking can be confirmed")
            return await service.get_or_raise(conn=conn, booking_id=booking_id)
        await earn_for_booking(conn=conn, booking=confirmed, author_id=principal.account_id)
    return confirmed
