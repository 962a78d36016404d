"""The time bank: redemptions, donations, statements."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.access import reach_or_raise
from api.bookings.service import get_visible_or_raise
from api.deps import RESIDENT_EDITORS, RESIDENT_READERS, Conn, CurrentUser, Principal, require_roles
from api.errors import ERROR_RESPONSES, Conflict, Forbidden, NotFound
from api.fields import Int64
from api.pagination import Page, PageParams, Paging, make_page
from api.timebank import service
from api.timebank.models import Donation, Redemption, Statement, StatementLine, Transaction

router = APIRouter(prefix="/timebank", tags=["timebank"], responses=ERROR_RESPONSES)


@router.post("/redemptions", response_model=Transaction, status_code=201)
async def redeem(body: Redemption, conn: Conn, principal: CurrentUser) -> dict:
    """Pay for a booking with minutes; staff paying from a resident's account act on their
    behalf, and it is recorded so."""
    booking = await get_visible_or_raise(conn=conn, principal=principal, booking_id=body.booking_id)
    if booking["status"] == "cancelled":
        raise Conflict("a cancelled booking cannot be paid for")
    on_behalf_of = None
    if body.pay_from == "resident":
        if principal.role not in RESIDENT_EDITORS:
            raise Forbidden("only staff pay from a resident's account, on their behalf")
        payer = await service.resident_account(conn=conn, resident_id=booking["resident_id"])
        on_behalf_of = booking["resident_id"]
    else:
        payer = await service.member_account(conn=conn, account_id=principal.account_id)
    minutes = await service.duration_of(conn=conn, booking_id=body.booking_id)
    system = await service.system_account(conn=conn)
    return await service.post(
        conn=conn,
        idempotency_key=body.idempotency_key,
        kind="redeem",
        author_id=principal.account_id,
        entries={payer: -minutes, system: minutes},
        booking_id=body.booking_id,
        on_behalf_of=on_behalf_of,
        memo=booking["service"],
    )


async def _served(conn, principal: Principal, resident_id: Int64) -> bool:
    row = await (
        await conn.execute(
            """SELECT 1 FROM bookings b JOIN providers p USING (provider_id)
           WHERE b.resident_id = %s AND p.account_id = %s LIMIT 1""",
            (resident_id, principal.account_id),
        )
    ).fetchone()
    return row is not None


@router.post("/donations", response_model=Transaction, status_code=201)
async def donate(body: Donation, conn: Conn, principal: CurrentUser) -> dict:
    """Give some of one's own minutes to a resident (one in reach, or one a volunteer served)."""
    if principal.role == "volunteer":
        if not await _served(conn, principal, body.resident_id):
            raise NotFound("resident not found", resident_id=body.resident_id)
    else:
        await reach_or_raise(conn=conn, principal=principal, resident_id=body.resident_id)
    giver = await service.member_account(conn=conn, account_id=principal.account_id)
    receiver = await service.resident_account(conn=conn, resident_id=body.resident_id)
    return await service.post(
        conn=conn,
        idempotency_key=body.idempotency_key,
        kind="donate",
        author_id=principal.account_id,
        entries={giver: -body.minutes, receiver: body.minutes},
    )


async def _statement(conn, tb_account_id: Int64, page: PageParams) -> Page[StatementLine]:
    rows = await service.statement(
        conn=conn, tb_account_id=tb_account_id, limit=page.limit + 1, offset=page.offset
    )
    balance_min = await service.balance(conn=conn, tb_account_id=tb_account_id)
    return make_page(
        rows,
        page,
        StatementLine,
        page_model=Statement,
        tb_account_id=tb_account_id,
        balance_min=balance_min,
    )


@router.get("/me", response_model=Statement)
async def my_statement(conn: Conn, principal: CurrentUser, page: Paging) -> Page[StatementLine]:
    """The caller's own balance and statement."""
    tb_account_id = await service.member_account(conn=conn, account_id=principal.account_id)
    return await _statement(conn, tb_account_id, page)


@router.get("/residents/{resident_id}", response_model=Statement)
async def resident_statement(
    resident_id: Int64,
    conn: Conn,
    page: Paging,
    principal: Annotated[Principal, Depends(require_roles(*RESIDENT_READERS))],
) -> Page[StatementLine]:
    """A resident's balance and statement (staff in reach, linked family)."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    tb_account_id = await service.resident_account(conn=conn, resident_id=resident_id)
    return await _statement(conn, tb_account_id, page)
