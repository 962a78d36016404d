"""Geofences per resident: staff editors and linked family may draw them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.access import reach_or_raise
from api.deps import RESIDENT_EDITORS, RESIDENT_READERS, Conn, Principal, require_roles
from api.errors import ERROR_RESPONSES
from api.fields import Int64
from api.geofences import service
from api.geofences.models import Datum, GeofenceRead, GeofenceWrite
from api.pagination import Page, Paging, make_page

router = APIRouter(
    prefix="/residents/{resident_id}/geofences", tags=["geofences"], responses=ERROR_RESPONSES
)
Reader = Annotated[Principal, Depends(require_roles(*RESIDENT_READERS))]
Drawer = Annotated[Principal, Depends(require_roles(*RESIDENT_EDITORS, "family"))]
DatumQuery = Annotated[Datum, Query(description="datum of the coordinates returned")]


@router.post("", response_model=GeofenceRead, status_code=201)
async def create_geofence(
    resident_id: Int64, body: GeofenceWrite, conn: Conn, principal: Drawer
) -> dict:
    """Draw a geofence (in WGS-84 or GCJ-02; stored as WGS-84)."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    row = await service.create(conn=conn, resident_id=resident_id, body=body)
    return service.to_read(row, body.crs)


@router.get("", response_model=Page[GeofenceRead])
async def list_geofences(
    resident_id: Int64,
    conn: Conn,
    principal: Reader,
    page: Paging,
    datum: DatumQuery = "wgs84",
) -> Page[GeofenceRead]:
    """A resident's geofences."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    rows = await service.list_for_resident(
        conn=conn, resident_id=resident_id, limit=page.limit + 1, offset=page.offset
    )
    return make_page([service.to_read(r, datum) for r in rows], page, GeofenceRead)


@router.get("/{geofence_id}", response_model=GeofenceRead)
async def get_geofence(
    resident_id: Int64,
    geofence_id: Int64,
    conn: Conn,
    principal: Reader,
    datum: DatumQuery = "wgs84",
) -> dict:
    """One geofence."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    row = await service.get_or_raise(conn=conn, resident_id=resident_id, geofence_id=geofence_id)
    return service.to_read(row, datum)


@router.put("/{geofence_id}", response_model=GeofenceRead)
async def replace_geofence(
    resident_id: Int64, geofence_id: Int64, body: GeofenceWrite, conn: Conn, principal: Drawer
) -> dict:
    """Change a geofence (its whole definition)."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    row = await service.replace(
        conn=conn, resident_id=resident_id, geofence_id=geofence_id, body=body
    )
    return service.to_read(row, body.crs)


@router.delete("/{geofence_id}", status_code=204)
async def delete_geofence(
    resident_id: Int64, geofence_id: Int64, conn: Conn, principal: Drawer
) -> Response:
    """Delete a geofence."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    await service.delete(conn=conn, resident_id=resident_id, geofence_id=geofence_id)
    return Response(status_code=204)
