"""The daily check list, calls and visits, and the console page that shows them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from api.access import reach_or_raise
from api.care import groups, rollup, service
from api.care.models import (
    ContactCreate,
    ContactRead,
    DailyList,
    SuggestionDecision,
    SuggestionRead,
)
from api.deps import ALERT_CONSOLE_ROLES, RESIDENT_EDITORS, Conn, Principal, require_roles
from api.errors import ERROR_RESPONSES
from eldercare.i18n import DEFAULT_TIME_ZONE, catalogue, local_time, negotiate, text

router = APIRouter(prefix="/care", tags=["care"], responses=ERROR_RESPONSES)
Staff = Annotated[Principal, Depends(require_roles(*ALERT_CONSOLE_ROLES))]
Editor = Annotated[Principal, Depends(require_roles(*RESIDENT_EDITORS))]
AcceptLanguage = Annotated[str | None, Header()]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/daily", response_model=DailyList)
async def daily(
    request: Request,
    conn: Conn,
    principal: Staff,
    accept_language: AcceptLanguage = None,
    grid_id: Annotated[int | None, Query()] = None,
    handler: Annotated[Literal["staff", "grid_worker"] | None, Query()] = None,
) -> dict:
    """Today's residents to call or visit, each with its reasons explained (audited)."""
    now = request.app.state.clock()
    items = await service.daily_list(
        conn=conn,
        principal=principal,
        now=now,
        locale=negotiate(accept_language),
        grid_id=grid_id,
    )
    if handler is not None:
        items = [i for i in items if i["handler"] == handler]
    await service.audit_listed(
        conn=conn, principal=principal, resident_ids=[i["resident_id"] for i in items]
    )
    data_until = await rollup.watermark(conn=conn)
    return {
        "generated_at": now,
        "generated_local": local_time(now, DEFAULT_TIME_ZONE),
        "data_until": data_until,
        "data_until_local": data_until and local_time(data_until, DEFAULT_TIME_ZONE),
        "items": items,
    }


@router.post("/residents/{resident_id}/contacts", response_model=ContactRead, status_code=201)
async def record_contact(
    request: Request, resident_id: int, body: ContactCreate, conn: Conn, principal: Staff
) -> dict:
    """Record a call or visit and whether the resident was reached."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    return await service.record_contact(
        conn=conn,
        principal=principal,
        resident_id=resident_id,
        fields=body.model_dump(),
        now=request.app.state.clock(),
    )


@router.get("/residents/{resident_id}/contacts", response_model=list[ContactRead])
async def list_contacts(
    resident_id: int,
    conn: Conn,
    principal: Staff,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict]:
    """A resident's calls and visits, newest first."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    return await service.list_contacts(conn=conn, resident_id=resident_id, limit=limit)


@router.get("/texts", include_in_schema=False)
async def page_texts(accept_language: AcceptLanguage = None) -> dict[str, str]:
    """The care page's texts in the caller's language (no personal data, no login)."""
    texts = catalogue(negotiate(accept_language))
    return {k: v for k, v in texts.items() if k.startswith(("care.page.", "care.group."))}


@router.get("/groups/suggestions", response_model=list[SuggestionRead])
async def group_suggestions(
    request: Request,
    conn: Conn,
    principal: Staff,
    accept_language: AcceptLanguage = None,
    status: Literal["pending", "confirmed", "rejected"] = "pending",
) -> list[dict]:
    """What the data suggests about priority groups, for a person to confirm or reject."""
    if status == "pending":
        await groups.refresh_suggestions(
            conn=conn, principal=principal, now=request.app.state.clock()
        )
    rows = await groups.list_suggestions(conn=conn, principal=principal, status=status)
    locale = negotiate(accept_language)
    return [{**row, "explanation": groups.explain(row, locale)} for row in rows]


@router.post("/groups/suggestions/{suggestion_id}/decide", response_model=SuggestionRead)
async def decide_suggestion(
    request: Request,
    suggestion_id: int,
    body: SuggestionDecision,
    conn: Conn,
    principal: Editor,
    accept_language: AcceptLanguage = None,
) -> dict:
    """Confirm (sets the resident's flag) or reject a suggestion."""
    row = await groups.decide(
        conn=conn,
        principal=principal,
        suggestion_id=suggestion_id,
        confirm=body.decision == "confirm",
        note=body.note,
        now=request.app.state.clock(),
    )
    return {**row, "explanation": groups.explain(row, negotiate(accept_language))}


@router.get("/groups/{group}/export")
async def export_group(
    group: Literal["living_alone", "disabled", "low_income"],
    conn: Conn,
    principal: Staff,
    accept_language: AcceptLanguage = None,
    format: Literal["csv", "xlsx"] = "csv",
    grid_id: Annotated[int | None, Query()] = None,
) -> Response:
    """A group's residents for home visits, as CSV or Excel (every row audited)."""
    rows = await groups.members(conn=conn, principal=principal, grp=group, grid_id=grid_id)
    await service.audit_listed(
        conn=conn,
        principal=principal,
        resident_ids=[r["resident_id"] for r in rows],
        action="care.groups.export",
    )
    locale = negotiate(accept_language)
    title = text(f"care.group.{group}", locale)
    if format == "xlsx":
        body, media = groups.to_xlsx(rows, locale, title), XLSX
    else:
        body, media = groups.to_csv(rows, locale), "text/csv; charset=utf-8"
    disposition = f"attachment; filename={group}.{format}"
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})
