"""The assessment reports (staff) and the public board (no login, no personal data)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.deps import STAFF_ALL, Principal, require_roles
from api.errors import ERROR_RESPONSES, Invalid
from api.requests import reports
from api.requests.routes import run
from eldercare.i18n import text

MONTH = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"

router = APIRouter(responses=ERROR_RESPONSES)
Reader = Annotated[
    Principal,
    Depends(require_roles("admin", "duty_staff", "community_director", "street_officer")),
]


def _month(value: str) -> date:
    """The first day of a `YYYY-MM` month; a clear 422 for a month the calendar lacks."""
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise Invalid("not a calendar month (YYYY-MM)", month=value) from None


@router.get("/reports/requests", tags=["reports"])
async def assessment(
    request: Request,
    principal: Reader,
    by: Annotated[str, Query(pattern="^(grid_worker|grid|department|category)$")],
    from_month: Annotated[str, Query(alias="from", pattern=MONTH)],
    to_month: Annotated[str, Query(alias="to", pattern=MONTH)],
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """Figures per grid worker, grid, department or category and month (JSON or CSV);
    directors and street officers get those of their grids."""
    first, last = _month(from_month), _month(to_month)
    if last < first or (last.year - first.year) * 12 + last.month - first.month > 24:
        raise Invalid("from..to is 1 to 25 months", first=from_month, last=to_month)
    rows = await run(
        request,
        reports.assessment,
        by=by,
        first=first,
        last=last,
        grid_ids=None if principal.role in STAFF_ALL else principal.grid_ids,
    )
    if format == "csv":
        name = f"requests-{by}-{from_month}-{to_month}.csv"
        return Response(
            "\ufeff" + reports.as_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return {"by": by, "from": from_month, "to": to_month, "rows": rows}


@router.get("/board/requests", tags=["board"])
async def board_figures(request: Request, month: Annotated[str, Query(pattern=MONTH)]) -> dict:
    """The public board: how the month's requests were handled, by category (no login)."""
    rows = await run(
        request,
        reports.assessment,
        by="category",
        first=_month(month),
        last=_month(month),
        grid_ids=None,
    )
    public = (
        "requests",
        "first_response_median_s",
        "answered_24h_share",
        "resolution_rate",
        "reopen_rate",
        "satisfaction",
        "rated",
    )
    return {
        "month": month,
        "categories": [
            {
                "category": r["key"],
                "name": {loc: text(f"request.category.{r['key']}", loc) for loc in ("zh_CN", "en")},
                **{k: r[k] for k in public},
            }
            for r in rows
        ],
    }
