"""Residents' requests: open, follow, act on, rate; the director's lists and policies.

Who may do what: anyone but volunteers opens requests (family accounts for their linked
residents, staff on a resident's behalf by hotline, walk-in or visit, grid workers their own
reports); staff in reach acknowledge, reply, resolve and set categories; the requester's side
(family accounts) sees progress and public replies and rates a resolution. A request out of
reach is answered like one that does not exist (404).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.db import run_sync, sync_pool_lifespan
from api.deps import ALERT_CONSOLE_ROLES, CurrentUser, Principal, require_roles
from api.errors import ERROR_RESPONSES, Forbidden
from api.pagination import Page, PageParams, make_page, page_params
from api.requests import departments, opening, page, queries, routing, service
from api.requests.models import (
    DepartmentReport,
    DepartmentState,
    OverdueDepartment,
    Policy,
    PolicyBody,
    PublicRequest,
    RatingBody,
    ReplyBody,
    RequestCreate,
    RequestRead,
    RequestStatus,
    RequestSummary,
    ResolveBody,
    SummonBody,
    Timeline,
    TimelineEntry,
)

router = APIRouter(lifespan=sync_pool_lifespan("request_pool", "api-requests"))
requests_router = APIRouter(prefix="/requests", tags=["requests"], responses=ERROR_RESPONSES)
policies_router = APIRouter(
    prefix="/request-policies", tags=["requests"], responses=ERROR_RESPONSES
)
departments_router = APIRouter(prefix="/departments", tags=["requests"], responses=ERROR_RESPONSES)
Staff = Annotated[Principal, Depends(require_roles(*ALERT_CONSOLE_ROLES))]
DepartmentActor = Annotated[
    Principal, Depends(require_roles(*ALERT_CONSOLE_ROLES, "department_staff"))
]
Director = Annotated[Principal, Depends(require_roles("admin", "community_director"))]
Paging = Annotated[PageParams, Depends(page_params)]
Purpose = Annotated[str | None, Query(min_length=1, max_length=200, description="why you ask")]


async def run(request: Request, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a synchronous request function on a pooled connection in a worker thread."""
    return await run_sync(request.app.state.request_pool, fn, **kwargs)


def _now(request: Request):
    return request.app.state.clock()


@requests_router.post("", response_model=RequestRead, status_code=201)
async def open_request(body: RequestCreate, request: Request, principal: CurrentUser) -> dict:
    """Open a request; its grid worker is notified at once. Answers with its number."""
    now = _now(request)
    request_id = await run(
        request, opening.open_for, principal=principal, body=body.model_dump(), now=now
    )
    return await run(
        request, queries.get_visible_or_raise, principal=principal, request_id=request_id, now=now
    )


@requests_router.get("", response_model=Page[RequestSummary])
async def list_requests(
    request: Request,
    principal: CurrentUser,
    page_: Paging,
    status: Annotated[list[RequestStatus] | None, Query()] = None,
    list_name: Annotated[str | None, Query(alias="list", pattern="^(difficult|promise)$")] = None,
) -> Page[RequestSummary]:
    """Requests in reach, most urgent and oldest first; `list=difficult` is the
    difficult-issues list, `list=promise` those without a public reply after 20 h."""
    rows = await run(
        request,
        queries.list_visible,
        principal=principal,
        now=_now(request),
        status=list(status) if status else None,
        list_name=list_name,
        limit=page_.limit + 1,
        offset=page_.offset,
    )
    return make_page(rows, page_, RequestSummary)


@requests_router.get("/suggestion")
async def suggest_category(
    request: Request,
    principal: Staff,
    text: Annotated[str, Query(min_length=1, max_length=2000)],
) -> dict:
    """The category the rules and the classifier suggest for a text, with confidence."""
    return await run(request, routing.suggest, text=text)


@requests_router.get("/{request_id}", response_model=RequestRead | PublicRequest)
async def get_request(
    request_id: int, request: Request, principal: CurrentUser, purpose: Purpose = None
) -> Any:
    """One request: staff see it whole with the resident's history (an audited read); the
    requester's side sees its progress."""
    now = _now(request)
    if queries.is_requester_view(principal):
        row = await run(
            request,
            queries.get_visible_or_raise,
            principal=principal,
            request_id=request_id,
            now=now,
        )
        return PublicRequest.model_validate(row)
    row = await run(
        request,
        queries.read_for_staff,
        principal=principal,
        request_id=request_id,
        purpose=purpose,
        now=now,
    )
    return RequestRead.model_validate(row)


@requests_router.get("/{request_id}/timeline", response_model=Timeline)
async def get_timeline(request_id: int, request: Request, principal: CurrentUser) -> dict:
    """Every step: what, who, when (the requester sees the public entries only)."""
    await run(
        request,
        queries.get_visible_or_raise,
        principal=principal,
        request_id=request_id,
        now=_now(request),
    )
    rows = await run(
        request,
        queries.timeline,
        request_id=request_id,
        public_only=queries.is_requester_view(principal),
    )
    return {"request_id": request_id, "items": [TimelineEntry.model_validate(r) for r in rows]}


async def _act(request: Request, principal: Principal, request_id: int, action, **kw) -> dict:
    """Check reach, run an action as the caller, return the request as it now is."""
    now = _now(request)
    await run(
        request,
        queries.get_visible_or_raise,
        principal=principal,
        request_id=request_id,
        now=now,
    )
    await run(
        request, action, request_id=request_id, account_id=principal.account_id, now=now, **kw
    )
    return await run(
        request,
        queries.get_visible_or_raise,
        principal=principal,
        request_id=request_id,
        now=now,
    )


@requests_router.post("/{request_id}/acknowledge", response_model=RequestSummary)
async def acknowledge(request_id: int, request: Request, principal: Staff) -> dict:
    """Take the request: the director is not paged (409 unless it is open)."""
    return await _act(request, principal, request_id, service.acknowledge)


@requests_router.post("/{request_id}/replies", response_model=RequestSummary, status_code=201)
async def add_reply(request_id: int, body: ReplyBody, request: Request, principal: Staff) -> dict:
    """A public reply to the requester (keeps the 24 h promise), or an internal note."""
    return await _act(
        request, principal, request_id, service.reply, text=body.text, public=body.public
    )


@requests_router.post("/{request_id}/resolve", response_model=RequestSummary)
async def resolve(request_id: int, body: ResolveBody, request: Request, principal: Staff) -> dict:
    """Resolve the request: escalation stops (409 if already resolved)."""
    return await _act(request, principal, request_id, service.resolve, resolution=body.resolution)


@requests_router.put("/{request_id}/category", response_model=RequestSummary)
async def set_category(
    request_id: int,
    request: Request,
    principal: Staff,
    category: Annotated[str, Query(pattern=r"^[a-z_]{2,40}$")],
) -> dict:
    """Set the category; the correction trains the classifier."""
    return await _act(request, principal, request_id, service.correct_category, category=category)


@requests_router.post("/{request_id}/rating", response_model=RequestSummary, status_code=201)
async def rate(request_id: int, body: RatingBody, request: Request, principal: CurrentUser) -> dict:
    """The requester rates the resolution (1-5); 1 or 2 reopens it to the director."""
    if not queries.is_requester_view(principal):
        raise Forbidden("only the requester's side rates a request", role=principal.role)
    return await _act(
        request, principal, request_id, service.rate, score=body.score, comment=body.comment
    )


@requests_router.post(
    "/{request_id}/departments", response_model=list[DepartmentState], status_code=201
)
async def summon_departments(
    request_id: int, body: SummonBody, request: Request, principal: Staff
) -> list[dict]:
    """Summon several departments at once, each with its own deadline to report."""
    await _act(
        request,
        principal,
        request_id,
        departments.summon,
        departments=[d.model_dump() for d in body.departments],
    )
    return await run(request, departments.of_request, request_id=request_id, now=_now(request))


@requests_router.get("/{request_id}/departments", response_model=list[DepartmentState])
async def list_departments(request_id: int, request: Request, principal: CurrentUser) -> list:
    """The departments summoned to a request: acknowledged, reported, overdue."""
    now = _now(request)
    await run(
        request, queries.get_visible_or_raise, principal=principal, request_id=request_id, now=now
    )
    return await run(request, departments.of_request, request_id=request_id, now=now)


async def _respond(request, principal, request_id: int, code: str, report: str | None) -> list:
    now = _now(request)
    await run(
        request, queries.get_visible_or_raise, principal=principal, request_id=request_id, now=now
    )
    await run(
        request,
        departments.respond,
        request_id=request_id,
        principal=principal,
        code=code,
        report=report,
        now=now,
    )
    return await run(request, departments.of_request, request_id=request_id, now=now)


@requests_router.post(
    "/{request_id}/departments/{code}/acknowledge", response_model=list[DepartmentState]
)
async def department_acknowledge(
    request_id: int, code: str, request: Request, principal: DepartmentActor
) -> list:
    """The department has the request (its own staff, or staff on its behalf)."""
    return await _respond(request, principal, request_id, code, None)


@requests_router.post(
    "/{request_id}/departments/{code}/report", response_model=list[DepartmentState]
)
async def department_report(
    request_id: int, code: str, body: DepartmentReport, request: Request, principal: DepartmentActor
) -> list:
    """The department reports what it did; the report is shown to the requester."""
    return await _respond(request, principal, request_id, code, body.text)


@departments_router.get("/overdue", response_model=list[OverdueDepartment])
async def overdue_departments(request: Request, principal: DepartmentActor) -> list:
    """Departments past their deadline without a report, on requests in reach."""
    return await run(request, departments.overdue, principal=principal, now=_now(request))


@policies_router.get("", response_model=list[Policy])
async def list_policies(request: Request, principal: Staff) -> list[dict]:
    """Each category's escalation policy."""
    return await run(request, queries.policies)


@policies_router.put("/{category}", response_model=Policy)
async def put_policy(
    category: str, body: PolicyBody, request: Request, principal: Director
) -> dict:
    """Replace a category's steps (directors); requests already open keep their copy."""
    policy_id = await run(
        request,
        service.set_policy,
        category=category,
        steps=body.steps,
        account_id=principal.account_id,
        now=_now(request),
    )
    return {"category": category, "policy_id": policy_id, "steps": body.steps}


router.include_router(page.router)
router.include_router(requests_router)
router.include_router(policies_router)
router.include_router(departments_router)
