"""The alert console's API: list, read, act on alerts in reach; the live stream; the page.

Admin and duty staff reach every alert; grid workers, community directors and street
officers the alerts of residents in their grids (anything else is answered like a missing
alert); family members and volunteers have no alert console (403, as for other role
refusals). Every change is recorded on the alert's timeline with the acting account.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from alerting.alerts import service as alerts
from api.alerts import page, service, stream
from api.alerts.models import (
    AlertOrder,
    AlertRead,
    AlertStatus,
    AlertSummary,
    AssignBody,
    NoteBody,
    ResolveBody,
    Timeline,
    TimelineEntry,
)
from api.db import sync_pool_lifespan
from api.deps import (
    ALERT_CONSOLE_ROLES,
    Conn,
    Principal,
    Purpose,
    RedisDep,
    SettingsDep,
    require_roles,
)
from api.errors import ERROR_RESPONSES, NotFound
from api.fields import Int64
from api.location.models import Datum
from api.pagination import Page, Paging, make_page

# alerting's public functions take sync connections.
router = APIRouter(lifespan=sync_pool_lifespan("alert_action_pool", "api-alerts"))
# Before /alerts/{alert_id}, so /alerts/stream is not read as an alert id.
router.include_router(stream.router)
router.include_router(page.router)

alerts_router = APIRouter(prefix="/alerts", tags=["alerts"], responses=ERROR_RESPONSES)
Console = Annotated[Principal, Depends(require_roles(*ALERT_CONSOLE_ROLES))]


@alerts_router.get("", response_model=Page[AlertSummary])
async def list_alerts(
    conn: Conn,
    principal: Console,
    page_: Paging,
    status: Annotated[list[AlertStatus] | None, Query()] = None,
    priority: Annotated[list[Annotated[int, Query(ge=1, le=5)]] | None, Query()] = None,
    min_severity: Annotated[int | None, Query(ge=1, le=4)] = None,
    grid_id: Annotated[Int64 | None, Query()] = None,
    resident_id: Annotated[Int64 | None, Query()] = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    order: AlertOrder = "newest",
) -> Page[AlertSummary]:
    """Alerts in reach, filtered; `order=priority` puts the most urgent, oldest first."""
    rows = await service.list_visible(
        conn=conn,
        principal=principal,
        status=list(status) if status else None,
        priority=list(priority) if priority else None,
        min_severity=min_severity,
        grid_id=grid_id,
        resident_id=resident_id,
        rule=rule,
        order=order,
        limit=page_.limit + 1,
        offset=page_.offset,
    )
    return make_page(rows, page_, AlertSummary)


@alerts_router.get("/{alert_id}", response_model=AlertRead)
async def get_alert(
    alert_id: Int64,
    request: Request,
    conn: Conn,
    redis: RedisDep,
    settings: SettingsDep,
    principal: Console,
    purpose: Purpose = None,
    datum: Annotated[Datum, Query(description="datum of the positions returned")] = "wgs84",
) -> dict:
    """One alert with its resident, emergency contacts and positions (an audited read)."""
    request.app.state.location_limiter.hit(str(principal.account_id))
    return await service.get_for_console(
        conn=conn,
        redis=redis,
        prefix=settings.redis_prefix,
        principal=principal,
        alert_id=alert_id,
        purpose=purpose,
        now=request.app.state.clock(),
        datum=datum,
    )


@alerts_router.get("/{alert_id}/timeline", response_model=Timeline)
async def get_timeline(alert_id: Int64, request: Request, conn: Conn, principal: Console) -> dict:
    """Every change of the alert, oldest first: what, who, when."""
    await service.get_visible_or_raise(conn=conn, principal=principal, alert_id=alert_id)
    rows = await service.run_action(
        request.app.state.alert_action_pool, alerts.timeline, alert_id=alert_id
    )
    names = await service.actor_names(conn=conn, actors={r["actor"] for r in rows})
    items = [TimelineEntry.model_validate({**r, "actor_name": names.get(r["actor"])}) for r in rows]
    return {"alert_id": alert_id, "items": items}


async def _act(request: Request, conn: Conn, principal: Principal, alert_id: Int64, action, **kw):
    """Check reach, run an alerting action as the caller, return the alert as it now is."""
    await service.get_visible_or_raise(conn=conn, principal=principal, alert_id=alert_id)
    await service.run_action(
        request.app.state.alert_action_pool,
        action,
        alert_id=alert_id,
        actor=service.actor_of(principal),
        now=request.app.state.clock(),
        **kw,
    )
    summaries = await service.visible_summaries(
        conn=conn, account_id=principal.account_id, alert_ids=[alert_id]
    )
    if alert_id not in summaries:  # moved out of reach meanwhile (its resident changed grid)
        raise NotFound("alert not found", alert_id=alert_id)
    return summaries[alert_id]


@alerts_router.post("/{alert_id}/acknowledge", response_model=AlertSummary)
async def acknowledge(alert_id: Int64, request: Request, conn: Conn, principal: Console) -> dict:
    """Acknowledge an open alert: paging stops (409 unless it is open)."""
    return await _act(request, conn, principal, alert_id, alerts.acknowledge)


@alerts_router.post("/{alert_id}/assign", response_model=AlertSummary)
async def assign(
    alert_id: Int64, body: AssignBody, request: Request, conn: Conn, principal: Console
) -> dict:
    """Set or clear who is working on the alert (409 once resolved)."""
    return await _act(request, conn, principal, alert_id, alerts.assign, assignee=body.assignee)


@alerts_router.post("/{alert_id}/notes", response_model=AlertSummary, status_code=201)
async def add_note(
    alert_id: Int64, body: NoteBody, request: Request, conn: Conn, principal: Console
) -> dict:
    """Add a note to the alert's timeline."""
    return await _act(request, conn, principal, alert_id, alerts.add_note, text=body.text)


@alerts_router.post("/{alert_id}/resolve", response_model=AlertSummary)
async def resolve(
    alert_id: Int64, body: ResolveBody, request: Request, conn: Conn, principal: Console
) -> dict:
    """Resolve the alert: escalation stops for good (409 if already resolved)."""
    return await _act(
        request, conn, principal, alert_id, alerts.resolve, resolution=body.resolution
    )


router.include_router(alerts_router)
