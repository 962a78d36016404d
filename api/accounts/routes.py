"""Login, accounts and grids."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.accounts import service
from api.accounts.models import (
    AccountCreate,
    AccountRead,
    GridCreate,
    GridRead,
    LocaleChoice,
    Token,
)
from api.deps import Conn, CurrentUser, SettingsDep, require_roles
from api.errors import ERROR_RESPONSES
from api.fields import Int64
from api.pagination import Page, Paging, make_page

router = APIRouter(responses=ERROR_RESPONSES)
Admin = Depends(require_roles("admin"))


@router.post("/auth/token", response_model=Token, tags=["auth"])
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    conn: Conn,
    settings: SettingsDep,
) -> Token:
    """OAuth2 password flow: a bearer token for a username and password."""
    client = request.client.host if request.client else "-"
    # Per username from one address, and per address (spraying many usernames).
    request.app.state.login_limiter.hit(f"{client}:{form.username}")
    request.app.state.login_ip_limiter.hit(client)
    account_id = await service.authenticate(
        conn=conn, username=form.username, password=form.password
    )
    token = service.issue_token(settings=settings, account_id=account_id)
    return Token(access_token=token, expires_in=settings.api_token_lifetime_s)


@router.get("/accounts/me", response_model=AccountRead, tags=["accounts"])
async def me(conn: Conn, principal: CurrentUser) -> dict:
    """The caller's own account."""
    return await service.get_or_raise(conn=conn, account_id=principal.account_id)


@router.put("/accounts/me/locale", response_model=AccountRead, tags=["accounts"])
async def choose_locale(body: LocaleChoice, conn: Conn, principal: CurrentUser) -> dict:
    """Choose the language of the caller's pages (null: follow the browser)."""
    return await service.set_locale(conn=conn, account_id=principal.account_id, locale=body.locale)


@router.post(
    "/accounts",
    response_model=AccountRead,
    status_code=201,
    tags=["accounts"],
    dependencies=[Admin],
)
async def create_account(body: AccountCreate, conn: Conn) -> dict:
    """Create an account (admin)."""
    return await service.create(conn=conn, **body.model_dump())


@router.get("/accounts", response_model=Page[AccountRead], tags=["accounts"], dependencies=[Admin])
async def list_accounts(conn: Conn, page: Paging) -> Page[AccountRead]:
    """All accounts (admin)."""
    rows = await service.list_accounts(conn=conn, limit=page.limit + 1, offset=page.offset)
    return make_page(rows, page, AccountRead)


@router.post(
    "/accounts/{account_id}/disable",
    response_model=AccountRead,
    tags=["accounts"],
    dependencies=[Admin],
)
async def disable_account(account_id: Int64, conn: Conn) -> dict:
    """Disable an account; its tokens stop working at once (admin)."""
    await service.get_or_raise(conn=conn, account_id=account_id)
    return await service.set_disabled(conn=conn, account_id=account_id, disabled=True)


@router.post(
    "/grids", response_model=GridRead, status_code=201, tags=["grids"], dependencies=[Admin]
)
async def create_grid(body: GridCreate, conn: Conn) -> dict:
    """Create a grid (admin)."""
    return await service.create_grid(conn=conn, name=body.name)


@router.get("/grids", response_model=Page[GridRead], tags=["grids"])
async def list_grids(conn: Conn, page: Paging, _principal: CurrentUser) -> Page[GridRead]:
    """All grids (names only)."""
    rows = await service.list_grids(conn=conn, limit=page.limit + 1, offset=page.offset)
    return make_page(rows, page, GridRead)
