"""The family page's own read: their elder's urgent alerts (family accounts only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.deps import Conn, Principal, require_roles
from api.errors import ERROR_RESPONSES
from api.family import service
from api.family.models import FamilyAlerts
from api.location.service import reach_and_audit

router = APIRouter(prefix="/family", tags=["family"], responses=ERROR_RESPONSES)
Family = Annotated[Principal, Depends(require_roles("family"))]


@router.get("/alerts", response_model=FamilyAlerts)
async def family_alerts(
    request: Request,
    conn: Conn,
    principal: Family,
    resident_id: Annotated[int, Query()],
    purpose: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> dict:
    """The elder's unresolved SOS and falls and what staff did; audited, own elder only."""
    await reach_and_audit(
        conn=conn,
        account_id=principal.account_id,
        resident_id=resident_id,
        action="family.alerts",
        purpose=purpose,
    )
    items = await service.urgent_alerts(
        conn=conn, pool=request.app.state.alert_action_pool, resident_id=resident_id
    )
    return {"resident_id": resident_id, "items": items}
