"""The connection type every API service takes: async psycopg with dict rows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow
from psycopg_pool import ConnectionPool

DbConn = AsyncConnection[DictRow]


async def returned_row(cur: AsyncCursor[DictRow]) -> DictRow:
    """The row a statement must produce: an INSERT/UPDATE ... RETURNING that ran, or a SELECT
    of a row the schema or the same transaction guarantees (RuntimeError if it is missing)."""
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("a statement that must produce a row produced none")
    return row


def sync_pool_lifespan(
    state_name: str, application_name: str
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """A router lifespan that keeps a small synchronous pool in `app.state.<state_name>`.

    For routes that call synchronous public functions (alerting's, the requests' ladder).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = ConnectionPool(
            app.state.settings.database_url.get_secret_value(),
            min_size=1,
            max_size=4,
            kwargs={"autocommit": True, "application_name": application_name},
            open=False,
        )
        await asyncio.to_thread(pool.open, True, 10)
        setattr(app.state, state_name, pool)
        try:
            yield
        finally:
            await asyncio.to_thread(pool.close)

    return lifespan


async def run_sync(pool: ConnectionPool, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a synchronous function on a pooled connection in a worker thread."""

    def call() -> Any:
        with pool.connection() as conn:
            return fn(conn, **kwargs)

    return await asyncio.to_thread(call)
