"""The connection type every API service takes: async psycopg with dict rows."""

from __future__ import annotations

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow

DbConn = AsyncConnection[DictRow]


async def returned_row(cur: AsyncCursor[DictRow]) -> DictRow:
    """The row a statement must produce: an INSERT/UPDATE ... RETURNING that ran, or a SELECT
    of a row the schema or the same transaction guarantees (RuntimeError if it is missing)."""
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("a statement that must produce a row produced none")
    return row
