"""The connection type every API service takes: async psycopg with dict rows."""

from __future__ import annotations

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow

DbConn = AsyncConnection[DictRow]


async def returned_row(cur: AsyncCursor[DictRow]) -> DictRow:
    """The row an INSERT/UPDATE ... RETURNING produced (one is always there when it ran)."""
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("statement with RETURNING produced no row")
    return row
