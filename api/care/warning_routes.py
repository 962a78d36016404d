"""Early warnings: check the community's alert counts against their baselines, page the
director, and show the open warnings with the data behind them."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Request

from api.alerts.service import system_alerts_in_pool
from api.care import warnings
from api.care.models import EarlyWarning
from api.deps import ALERT_CONSOLE_ROLES, STAFF_ALL, Conn, Principal, require_roles
from api.errors import ERROR_RESPONSES
from eldercare.i18n import DEFAULT_TIME_ZONE, negotiate

router = APIRouter(prefix="/care/warnings", tags=["care"], responses=ERROR_RESPONSES)
Reader = Annotated[Principal, Depends(require_roles(*ALERT_CONSOLE_ROLES))]
Runner = Annotated[Principal, Depends(require_roles(*STAFF_ALL))]
AcceptLanguage = Annotated[str | None, Header()]


def _shown(row: dict, locale: str) -> dict:
    details = row["details"]
    return {
        "alert_id": row["alert_id"],
        "status": row["status"],
        "opened_at": row["opened_at"],
        **warnings.explain(details, locale),
        "details": details,
    }


@router.post("/check", response_model=list[EarlyWarning])
async def check(
    request: Request, conn: Conn, principal: Runner, accept_language: AcceptLanguage = None
) -> list[dict]:
    """Test every grid's and the community's alert counts; open a warning (which pages the
    community director) for each rising series. `eldercare jobs` runs this check on its own
    (`care_warnings_interval_s`); safe to run again."""
    raised = await warnings.raise_warnings(
        conn=conn,
        raise_alert=system_alerts_in_pool(request.app.state.alert_action_pool),
        now=request.app.state.clock(),
        zone=ZoneInfo(DEFAULT_TIME_ZONE),
    )
    locale = negotiate(accept_language)
    return [_shown(row, locale) for row in raised]


@router.get("", response_model=list[EarlyWarning])
async def list_warnings(
    conn: Conn, principal: Reader, accept_language: AcceptLanguage = None
) -> list[dict]:
    """Open early warnings the caller may see, explained, with their daily counts."""
    locale = negotiate(accept_language)
    return [_shown(row, locale) for row in await warnings.list_open(conn=conn, principal=principal)]
