"""Helpers for time-bank tests: post through the service on an async connection."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.rows import dict_row

from api.timebank import service


async def connect(dsn: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(dsn, autocommit=True, row_factory=dict_row)


async def seed_minutes(dsn: str, *, account_id: int, minutes: int) -> int:
    """Credit an account with minutes from the system account; return its ledger account."""
    async with await connect(dsn) as conn:
        member = await service.member_account(conn=conn, account_id=account_id)
        system = await service.system_account(conn=conn)
        await service.post(
            conn=conn,
            idempotency_key=f"seed-{uuid.uuid4().hex}",
            kind="earn",
            author_id=account_id,
            entries={system: -minutes, member: minutes},
        )
        return member
