"""Accounts: creation (also the admin bootstrap), password checks, tokens, grids."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import jwt
import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.db import DbConn
from api.errors import Conflict, NotFound, Unauthorized
from eldercare.settings import Settings

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
# Verified against when the username is unknown, so timing does not reveal which it was.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

ACCOUNT_COLUMNS = """a.account_id, a.username, a.full_name, a.role, a.disabled, a.created_at,
    a.locale, coalesce((SELECT array_agg(grid_id ORDER BY grid_id) FROM account_grids g
              WHERE g.account_id = a.account_id), '{}') AS grid_ids"""


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)


def create_account(
    *,
    conn: psycopg.Connection,
    username: str,
    password: str,
    role: str,
    full_name: str = "",
    grid_ids: Iterable[int] = (),
) -> int:
    """Create an account (synchronous: the CLI's `create-admin` calls this); return its id."""
    with conn.transaction():
        row = conn.execute(
            """INSERT INTO accounts (username, full_name, password_hash, role)
               VALUES (%s, %s, %s, %s) ON CONFLICT (username) DO NOTHING RETURNING account_id""",
            (username, full_name, hash_password(password), role),
        ).fetchone()
        if row is None:
            raise Conflict("username taken", username=username)
        for grid_id in grid_ids:
            conn.execute(
                "INSERT INTO account_grids (account_id, grid_id) VALUES (%s, %s)",
                (row[0], grid_id),
            )
    return row[0]


def seed_dev_admin(*, conn: psycopg.Connection, settings: Settings) -> bool:
    """In development only, make sure an `admin` account exists; True if it was created."""
    if settings.environment != "development":
        return False
    if conn.execute("SELECT 1 FROM accounts WHERE username = 'admin'").fetchone():
        return False
    create_account(
        conn=conn,
        username="admin",
        password=settings.api_dev_admin_password.get_secret_value(),
        role="admin",
        full_name="Development admin",
    )
    log.warning("created development admin account 'admin' (environment=development)")
    return True


async def create(
    *,
    conn: DbConn,
    username: str,
    password: str,
    role: str,
    full_name: str,
    grid_ids: list[int],
) -> dict:
    """Create an account from the API; unknown grids are a conflict."""
    password_hash = hash_password(password)
    try:
        async with conn.transaction():
            row = await (
                await conn.execute(
                    """INSERT INTO accounts (username, full_name, password_hash, role)
                       VALUES (%s, %s, %s, %s) ON CONFLICT (username) DO NOTHING
                       RETURNING account_id""",
                    (username, full_name, password_hash, role),
                )
            ).fetchone()
            if row is None:
                raise Conflict("username taken", username=username)
            for grid_id in set(grid_ids):
                await conn.execute(
                    "INSERT INTO account_grids (account_id, grid_id) VALUES (%s, %s)",
                    (row["account_id"], grid_id),
                )
    except psycopg.errors.ForeignKeyViolation:
        raise Conflict("no such grid", grid_ids=grid_ids) from None
    return await get_or_raise(conn=conn, account_id=row["account_id"])


async def get(*, conn: DbConn, account_id: int) -> dict | None:
    """One account, or None."""
    cur = await conn.execute(
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.account_id = %s", (account_id,)
    )
    return await cur.fetchone()


async def get_or_raise(*, conn: DbConn, account_id: int) -> dict:
    """One account, or NotFound."""
    row = await get(conn=conn, account_id=account_id)
    if row is None:
        raise NotFound("account not found", account_id=account_id)
    return row


async def set_locale(*, conn: DbConn, account_id: int, locale: str | None) -> dict:
    """Store the language an account reads pages in (None: follow the browser)."""
    await conn.execute(
        "UPDATE accounts SET locale = %s WHERE account_id = %s", (locale, account_id)
    )
    return await get_or_raise(conn=conn, account_id=account_id)


async def list_accounts(*, conn: DbConn, limit: int, offset: int) -> list[dict]:
    """Accounts by id."""
    cur = await conn.execute(
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY account_id LIMIT %s OFFSET %s",
        (limit, offset),
    )
    return await cur.fetchall()


async def authenticate(*, conn: DbConn, username: str, password: str) -> int:
    """The account id for a username and password, or Unauthorized."""
    row = await (
        await conn.execute(
            "SELECT account_id, password_hash FROM accounts WHERE username = %s AND NOT disabled",
            (username,),
        )
    ).fetchone()
    try:
        _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong username or password") from None
    if row is None:
        raise Unauthorized("wrong username or password")
    return row["account_id"]


def issue_token(*, settings: Settings, account_id: int, now: float | None = None) -> str:
    """A signed bearer token for an account."""
    issued = int(now if now is not None else time.time())
    claims = {"sub": str(account_id), "iat": issued, "exp": issued + settings.api_token_lifetime_s}
    return jwt.encode(claims, settings.api_jwt_secret.get_secret_value(), algorithm="HS256")


async def set_disabled(*, conn: DbConn, account_id: int, disabled: bool) -> dict:
    """Disable or re-enable an account; its tokens stop working at once."""
    await conn.execute(
        "UPDATE accounts SET disabled = %s WHERE account_id = %s", (disabled, account_id)
    )
    return await get_or_raise(conn=conn, account_id=account_id)


async def create_grid(*, conn: DbConn, name: str) -> dict:
    """A new grid."""
    row = await (
        await conn.execute(
            """INSERT INTO grids (name) VALUES (%s) ON CONFLICT (name) DO NOTHING
               RETURNING grid_id, name""",
            (name,),
        )
    ).fetchone()
    if row is None:
        raise Conflict("grid name taken", name=name)
    return row


async def list_grids(*, conn: DbConn, limit: int, offset: int) -> list[dict]:
    """Grids by id."""
    cur = await conn.execute(
        "SELECT grid_id, name FROM grids ORDER BY grid_id LIMIT %s OFFSET %s", (limit, offset)
    )
    return await cur.fetchall()
