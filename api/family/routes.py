"""The family page's own read: their elder's urgent alerts (family accounts only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.alerts.service import run_action
from api.deps import Conn, Principal, require_roles
from api.errors import ERROR_RESPONSES
from api.family import ratings, service
from api.family.models import AlertRated, FamilyAlerts
from api.location.service import reach_and_audit
from api.requests.models import RatingBody

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
    """The elder's unresolved SOS and falls and what staff did, and the resolved ones this
    account may still rate; audited, own elder only."""
    await reach_and_audit(
        conn=conn,
        account_id=principal.account_id,
        resident_id=resident_id,
        action="family.alerts",
        purpose=purpose,
    )
    pool = request.app.state.alert_action_pool
    items = await service.urgent_alerts(conn=conn, pool=pool, resident_id=resident_id)
    to_rate = await run_action(
        pool,
        ratings.awaiting,
        resident_id=resident_id,
        account_id=principal.account_id,
        now=request.app.state.clock(),
    )
    return {"resident_id": resident_id, "items": items, "to_rate": to_rate}


@router.post("/alerts/{alert_id}/rating", response_model=AlertRated, status_code=201)
async def rate_alert(alert_id: int, body: RatingBody, request: Request, principal: Family) -> dict:
    """Rate how a resolved SOS or fall of one's own elder was handled (1-5, once per
    account); 1 or 2 goes to the community director."""
    to_director = await run_action(
        request.app.state.alert_action_pool,
        ratings.rate_alert,
        alert_id=alert_id,
        account_id=principal.account_id,
        score=body.score,
        comment=body.comment,
        now=request.app.state.clock(),
    )
    return {"alert_id": alert_id, "score": body.score, "to_director": to_director}
