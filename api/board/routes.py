"""The duty board: residents in reach with band state and last position (console roles)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.board import service
from api.board.models import BoardResident
from api.deps import ALERT_CONSOLE_ROLES, Conn, Principal, RedisDep, SettingsDep, require_roles
from api.errors import ERROR_RESPONSES
from api.location.models import Datum
from api.pagination import Page, PageParams, make_page, page_params

router = APIRouter(prefix="/board", tags=["board"], responses=ERROR_RESPONSES)
Console = Annotated[Principal, Depends(require_roles(*ALERT_CONSOLE_ROLES))]


@router.get("/residents", response_model=Page[BoardResident])
async def board_residents(
    request: Request,
    conn: Conn,
    redis: RedisDep,
    settings: SettingsDep,
    principal: Console,
    page: Annotated[PageParams, Depends(page_params)],
    grid_id: Annotated[int | None, Query()] = None,
    datum: Annotated[Datum, Query(description="datum of the positions returned")] = "wgs84",
    purpose: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> Page[BoardResident]:
    """Residents in reach, by id: risk flags, band online/battery/worn, last contact, position.

    Every resident listed is an audited location read (`board.positions`).
    """
    request.app.state.location_limiter.hit(str(principal.account_id))
    rows = await service.residents(
        conn=conn,
        redis=redis,
        prefix=settings.redis_prefix,
        account_id=principal.account_id,
        grid_id=grid_id,
        datum=datum,
        purpose=purpose,
        now=request.app.state.clock(),
        limit=page.limit + 1,
        offset=page.offset,
    )
    return make_page(rows, page, BoardResident)
