"""FastAPI dependencies: a database connection, Redis, settings, the caller and their role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from redis.asyncio import Redis

from api.db import DbConn
from api.errors import Forbidden, Unauthorized
from eldercare.settings import Settings

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)

STAFF_ALL = frozenset({"admin", "duty_staff"})
GRID_SCOPED = frozenset({"grid_worker", "community_director", "street_officer"})
RESIDENT_EDITORS = frozenset({"admin", "duty_staff", "grid_worker"})
RESIDENT_READERS = STAFF_ALL | GRID_SCOPED | {"family"}
ALERT_CONSOLE_ROLES = STAFF_ALL | GRID_SCOPED

# Why the caller reads a resident's personal data: written to the audit log with the read.
Purpose = Annotated[str | None, Query(min_length=1, max_length=200, description="why you ask")]


@dataclass(frozen=True)
class Principal:
    """Who is asking: their account, role and (for grid-scoped roles) their grids."""

    account_id: int
    role: str
    grid_ids: tuple[int, ...]

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ALL or self.role in GRID_SCOPED


# Dependencies are `async def` even when they do not await: FastAPI runs plain `def`
# dependencies in a worker thread, a costly hop on every request.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_conn(request: Request) -> AsyncIterator[DbConn]:
    """A pooled autocommit connection; services open transactions where they need them."""
    async with request.app.state.pool.connection() as conn:
        yield conn


async def get_redis(request: Request) -> Redis:
    return request.app.state.redis


Conn = Annotated[DbConn, Depends(get_conn)]
RedisDep = Annotated[Redis, Depends(get_redis)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def decode_token(settings: Settings, token: str, *, audience: str | None = None) -> dict:
    """The claims of a valid token; Unauthorized otherwise.

    Without `audience`, a token that names one (e.g. the alert stream's cookie token) is
    refused, so a narrow token never works as a general bearer token.
    """
    try:
        claims = jwt.decode(
            token,
            settings.api_jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            audience=audience,
            options={"require": ["exp", "sub"]},
        )
        int(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        raise Unauthorized("invalid or expired token") from None
    return claims


async def get_token_account_id(
    settings: SettingsDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> int:
    """The account id a valid bearer token speaks for (the account itself is checked later)."""
    if not token:
        raise Unauthorized("not authenticated")
    return int(decode_token(settings, token)["sub"])


TokenAccountId = Annotated[int, Depends(get_token_account_id)]


async def get_principal(conn: Conn, account_id: TokenAccountId) -> Principal:
    """The caller of a bearer token; the account is re-read so disabling it works at once."""
    row = await (
        await conn.execute(
            """SELECT a.role, coalesce(array_agg(g.grid_id) FILTER (WHERE g.grid_id IS NOT NULL),
                                       '{}') AS grid_ids
               FROM accounts a LEFT JOIN account_grids g USING (account_id)
               WHERE a.account_id = %s AND NOT a.disabled
               GROUP BY a.account_id""",
            (account_id,),
        )
    ).fetchone()
    if row is None:
        raise Unauthorized("invalid or expired token")
    return Principal(account_id=account_id, role=row["role"], grid_ids=tuple(row["grid_ids"]))


CurrentUser = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """Dependency: the caller must hold one of `roles`."""
    allowed = frozenset(roles)

    async def check(principal: CurrentUser) -> Principal:
        if principal.role not in allowed:
            raise Forbidden("your role may not do this", role=principal.role)
        return principal

    return check
