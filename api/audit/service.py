"""The audit log of reads of residents' sensitive data (PIPL): who, whose, when, why."""

from __future__ import annotations

from datetime import datetime

from api.db import DbConn


async def list_entries(
    *,
    conn: DbConn,
    resident_id: int | None,
    account_id: int | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> list[dict]:
    """Audit rows, newest first, filtered by resident and/or reader."""
    cur = await conn.execute(
        """SELECT audit_id, at, account_id, role, resident_id, action, purpose, on_behalf
           FROM audit_log
           WHERE (%(rid)s::bigint IS NULL OR resident_id = %(rid)s)
             AND (%(aid)s::bigint IS NULL OR account_id = %(aid)s)
             AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
           ORDER BY audit_id DESC LIMIT %(limit)s OFFSET %(offset)s""",
        {"rid": resident_id, "aid": account_id, "since": since, "limit": limit, "offset": offset},
    )
    return await cur.fetchall()
