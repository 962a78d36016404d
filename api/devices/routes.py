"""Bands: provision, list, status, bind/unbind, revoke, commands."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from api.access import can_reach, edit_or_raise
from api.alerts.service import actor_of
from api.care.service import audit_listed
from api.deps import (
    RESIDENT_EDITORS,
    RESIDENT_READERS,
    STAFF_ALL,
    Conn,
    CurrentUser,
    Principal,
    RedisDep,
    SettingsDep,
    require_roles,
)
from api.devices import service
from api.devices.models import (
    IMEI_PATTERN,
    BindRequest,
    Command,
    CommandSent,
    DeviceProvision,
    DeviceRead,
    DeviceStatus,
    ProvisionedDevice,
)
from api.errors import ERROR_RESPONSES, Forbidden, NotFound
from api.pagination import Page, Paging, make_page

router = APIRouter(prefix="/devices", tags=["devices"], responses=ERROR_RESPONSES)
DeviceIdPath = Annotated[
    str, Path(pattern=IMEI_PATTERN, description="IMEI: 15 decimal digits (a band's own)")
]
Admin = Depends(require_roles("admin"))
Reader = Annotated[Principal, Depends(require_roles(*RESIDENT_READERS))]


async def _device_in_reach(conn, principal: Principal, device_id: str) -> dict:
    """The band, if the caller may see it: staff-all see every band, others only the bands of
    residents in their reach. Otherwise NotFound, as for a band that does not exist."""
    device = await service.get(conn=conn, device_id=device_id)
    if device is not None and (
        principal.role in STAFF_ALL
        or (
            device["resident_id"] is not None
            and await can_reach(conn=conn, principal=principal, resident_id=device["resident_id"])
        )
    ):
        return device
    raise NotFound("device not found", device_id=device_id)


@router.post("", response_model=ProvisionedDevice, status_code=201, dependencies=[Admin])
async def provision_device(body: DeviceProvision, conn: Conn) -> dict:
    """Provision a band: its MQTT password is in this response and nowhere else (admin)."""
    return await service.provision(
        conn=conn,
        device_id=body.device_id,
        watch_id=body.watch_id,
        watch_utc_offset_min=body.watch_utc_offset_min,
    )


@router.get(
    "",
    response_model=Page[DeviceRead],
    dependencies=[Depends(require_roles(*STAFF_ALL))],
)
async def list_devices(conn: Conn, page: Paging) -> Page:
    """Every band (admin, duty staff)."""
    rows = await service.list_devices(conn=conn, limit=page.limit + 1, offset=page.offset)
    return make_page(rows, page, DeviceRead)


@router.get("/{device_id}", response_model=DeviceStatus)
async def device_status(
    device_id: DeviceIdPath, conn: Conn, redis: RedisDep, settings: SettingsDep, principal: Reader
) -> dict:
    """A band's status: online, battery, last seen."""
    device = await _device_in_reach(conn, principal, device_id)
    return await service.status(conn=conn, redis=redis, prefix=settings.redis_prefix, device=device)


@router.post("/{device_id}/bind", response_model=DeviceRead)
async def bind_device(
    device_id: DeviceIdPath, body: BindRequest, conn: Conn, principal: CurrentUser
) -> dict:
    """Bind a band to a resident."""
    await edit_or_raise(conn=conn, principal=principal, resident_id=body.resident_id)
    device = await service.get(conn=conn, device_id=device_id)
    if device is None or (
        device["resident_id"] not in (None, body.resident_id) and principal.role not in STAFF_ALL
    ):
        raise NotFound("device not found", device_id=device_id)
    return await service.bind(conn=conn, device_id=device_id, resident_id=body.resident_id)


@router.post("/{device_id}/unbind", response_model=DeviceRead)
async def unbind_device(
    device_id: DeviceIdPath, request: Request, conn: Conn, principal: CurrentUser
) -> dict:
    """Unbind a band from its resident; its offline, low-battery and not-worn alerts end."""
    if principal.role not in RESIDENT_EDITORS:
        raise Forbidden("your role may not unbind bands")
    await _device_in_reach(conn, principal, device_id)
    return await service.unbind(
        conn=conn,
        pool=request.app.state.alert_action_pool,
        device_id=device_id,
        actor=actor_of(principal),
        now=request.app.state.clock(),
    )


@router.post("/{device_id}/revoke", response_model=DeviceRead)
async def revoke_device(
    device_id: DeviceIdPath,
    request: Request,
    conn: Conn,
    settings: SettingsDep,
    principal: Annotated[Principal, Admin],
) -> dict:
    """Revoke a band: it can no longer connect to the broker; its device alerts end (admin)."""
    return await service.revoke(
        conn=conn,
        pool=request.app.state.alert_action_pool,
        settings=settings,
        device_id=device_id,
        actor=actor_of(principal),
        now=request.app.state.clock(),
    )


@router.post("/{device_id}/commands", response_model=CommandSent, status_code=202)
async def send_command(
    device_id: DeviceIdPath, body: Command, conn: Conn, settings: SettingsDep, principal: Reader
) -> dict:
    """Send `locate` (anyone who may see the band), `config` or `sos_numbers` (staff editors)
    to a band. Setting SOS numbers is audited against the band's resident."""
    device = await _device_in_reach(conn, principal, device_id)
    if body.type != "locate" and principal.role not in RESIDENT_EDITORS:
        raise Forbidden("your role may not configure bands")
    if body.type == "sos_numbers" and device["resident_id"] is not None:
        await audit_listed(
            conn=conn,
            principal=principal,
            resident_ids=[device["resident_id"]],
            action="device.sos_numbers",
        )
    return await service.send_command(
        settings=settings, device=device, command=body.model_dump(exclude_none=True)
    )
