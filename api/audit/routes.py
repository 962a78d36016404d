"""The audit log, for administrators (and the data-protection officer's questions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.audit import service
from api.deps import Conn, require_roles
from api.errors import ERROR_RESPONSES
from api.fields import Int64, IsoTime
from api.pagination import Page, Paging, make_page

router = APIRouter(tags=["audit"], responses=ERROR_RESPONSES)


class AuditEntry(BaseModel):
    audit_id: Int64
    at: datetime
    account_id: Int64
    role: str
    resident_id: Int64
    action: str
    purpose: str
    on_behalf: bool


@router.get(
    "/audit", response_model=Page[AuditEntry], dependencies=[Depends(require_roles("admin"))]
)
async def list_audit(
    conn: Conn,
    page: Paging,
    resident_id: Annotated[Int64 | None, Query()] = None,
    account_id: Annotated[Int64 | None, Query()] = None,
    since: Annotated[IsoTime | None, Query(description="ISO 8601 with offset")] = None,
) -> Page[AuditEntry]:
    """Who read whose location or vitals, newest first (admin)."""
    rows = await service.list_entries(
        conn=conn,
        resident_id=resident_id,
        account_id=account_id,
        since=since,
        limit=page.limit + 1,
        offset=page.offset,
    )
    return make_page(rows, page, AuditEntry)
