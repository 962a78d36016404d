"""Residents: profile, risk flags, medical notes, contacts, family links, thresholds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.access import edit_or_raise, reach_or_raise
from api.deps import RESIDENT_EDITORS, RESIDENT_READERS, Conn, CurrentUser, Principal, require_roles
from api.errors import ERROR_RESPONSES, Forbidden
from api.fields import Int64
from api.pagination import Page, PageParams, Paging, make_page
from api.residents import service
from api.residents.models import (
    ContactCreate,
    ContactRead,
    FamilyLinkCreate,
    FamilyLinkRead,
    ResidentCreate,
    ResidentRead,
    ResidentUpdate,
    Thresholds,
    ThresholdsRead,
)

router = APIRouter(prefix="/residents", tags=["residents"], responses=ERROR_RESPONSES)
Editor = Annotated[Principal, Depends(require_roles(*RESIDENT_EDITORS))]
Reader = Annotated[Principal, Depends(require_roles(*RESIDENT_READERS))]


def _check_grid_assignable(principal: Principal, grid_id: Int64 | None) -> None:
    """A grid worker may place residents only in their own grids."""
    if principal.role == "grid_worker" and grid_id not in principal.grid_ids:
        raise Forbidden("grid workers may only place residents in their own grid")


@router.post("", response_model=ResidentRead, status_code=201)
async def create_resident(body: ResidentCreate, conn: Conn, principal: Editor) -> dict:
    """Register a resident."""
    _check_grid_assignable(principal, body.grid_id)
    return await service.create(conn=conn, fields=body.model_dump())


@router.get("", response_model=Page[ResidentRead])
async def list_residents(
    conn: Conn, principal: Reader, page: Paging, grid_id: Annotated[Int64 | None, Query()] = None
) -> Page[ResidentRead]:
    """The residents the caller may see."""
    rows = await service.list_visible(
        conn=conn, principal=principal, grid_id=grid_id, limit=page.limit + 1, offset=page.offset
    )
    return make_page(rows, page, ResidentRead)


@router.get("/{resident_id}", response_model=ResidentRead)
async def get_resident(resident_id: Int64, conn: Conn, principal: Reader) -> dict:
    """A resident's profile."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    return await service.get_or_raise(conn=conn, resident_id=resident_id)


@router.patch("/{resident_id}", response_model=ResidentRead)
async def update_resident(
    resident_id: Int64, body: ResidentUpdate, conn: Conn, principal: CurrentUser
) -> dict:
    """Change a resident's profile, time zone, risk flags, medical notes or grid."""
    await edit_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    changes = body.model_dump(exclude_unset=True)
    if "grid_id" in changes:
        _check_grid_assignable(principal, changes["grid_id"])
    return await service.update(conn=conn, resident_id=resident_id, changes=changes)


@router.get("/{resident_id}/contacts", response_model=Page[ContactRead])
async def list_contacts(resident_id: Int64, conn: Conn, principal: Reader) -> Page[ContactRead]:
    """Emergency contacts in calling order."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    rows = await service.list_contacts(conn=conn, resident_id=resident_id)
    return make_page(rows, PageParams(limit=100, offset=0), ContactRead)


@router.post("/{resident_id}/contacts", response_model=ContactRead, status_code=201)
async def add_contact(
    resident_id: Int64, body: ContactCreate, conn: Conn, principal: CurrentUser
) -> dict:
    """Add an emergency contact."""
    await edit_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    return await service.add_contact(conn=conn, resident_id=resident_id, fields=body.model_dump())


@router.delete("/{resident_id}/contacts/{contact_id}", status_code=204)
async def delete_contact(
    resident_id: Int64, contact_id: Int64, conn: Conn, principal: CurrentUser
) -> Response:
    """Remove an emergency contact."""
    await edit_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    await service.delete_contact(conn=conn, resident_id=resident_id, contact_id=contact_id)
    return Response(status_code=204)


@router.get("/{resident_id}/family-links", response_model=Page[FamilyLinkRead])
async def list_family_links(
    resident_id: Int64, conn: Conn, principal: Reader, page: Paging
) -> Page[FamilyLinkRead]:
    """Family links with their consent record; a family member sees only their own."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    rows = await service.list_family_links(
        conn=conn,
        principal=principal,
        resident_id=resident_id,
        limit=page.limit + 1,
        offset=page.offset,
    )
    return make_page(rows, page, FamilyLinkRead)


@router.post("/{resident_id}/family-links", response_model=FamilyLinkRead, status_code=201)
async def create_family_link(
    resident_id: Int64, body: FamilyLinkCreate, conn: Conn, principal: CurrentUser
) -> dict:
    """Link a family member to a resident, recording the resident's consent."""
    await edit_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    return await service.create_family_link(
        conn=conn,
        resident_id=resident_id,
        recorded_by=principal.account_id,
        fields=body.model_dump(),
    )


@router.post("/{resident_id}/family-links/{link_id}/withdraw", response_model=FamilyLinkRead)
async def withdraw_consent(
    resident_id: Int64, link_id: Int64, conn: Conn, principal: Reader
) -> dict:
    """Withdraw consent: the family member loses access immediately."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    return await service.withdraw_consent_or_raise(
        conn=conn, principal=principal, resident_id=resident_id, link_id=link_id
    )


@router.get("/{resident_id}/thresholds", response_model=ThresholdsRead)
async def get_thresholds(resident_id: Int64, conn: Conn, principal: Reader) -> dict:
    """Per-resident alert threshold overrides."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    return await service.get_thresholds(conn=conn, resident_id=resident_id)


@router.put("/{resident_id}/thresholds", response_model=ThresholdsRead)
async def put_thresholds(
    resident_id: Int64, body: Thresholds, conn: Conn, principal: CurrentUser
) -> dict:
    """Replace the per-resident alert threshold overrides."""
    await edit_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    return await service.put_thresholds(
        conn=conn,
        resident_id=resident_id,
        overrides=body.overrides,
        updated_by=principal.account_id,
    )
