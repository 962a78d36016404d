"""Object-level access: which residents a caller may reach.

Admin and duty staff reach every resident; grid workers, community directors and street
officers the residents of their grids; family members the residents linked to them with
consent on record and not withdrawn; volunteers none. Anything else is answered exactly
like a resident that does not exist.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from api.deps import GRID_SCOPED, RESIDENT_EDITORS, STAFF_ALL, Principal
from api.errors import Forbidden, NotFound

# A WHERE fragment over `r` (residents); constant SQL, the caller's identity is a parameter.
SCOPE_SQL = """(
    %(scope_all)s
    OR (%(scope_grid)s AND r.grid_id = ANY(%(scope_grids)s))
    OR (%(scope_family)s AND EXISTS (
        SELECT 1 FROM family_links f
        WHERE f.resident_id = r.resident_id AND f.account_id = %(scope_account)s
          AND f.withdrawn_at IS NULL)))"""


def scope_params(principal: Principal) -> dict[str, object]:
    """Parameters for SCOPE_SQL."""
    return {
        "scope_all": principal.role in STAFF_ALL,
        "scope_grid": principal.role in GRID_SCOPED,
        "scope_grids": list(principal.grid_ids),
        "scope_family": principal.role == "family",
        "scope_account": principal.account_id,
    }


async def can_reach(*, conn: AsyncConnection, principal: Principal, resident_id: int) -> bool:
    """True if the caller may see this resident."""
    row = await (
        await conn.execute(
            "SELECT 1 FROM residents r WHERE r.resident_id = %(rid)s AND " + SCOPE_SQL,
            {"rid": resident_id, **scope_params(principal)},
        )
    ).fetchone()
    return row is not None


async def reach_or_raise(*, conn: AsyncConnection, principal: Principal, resident_id: int) -> None:
    """Raise NotFound unless the caller may see this resident."""
    if not await can_reach(conn=conn, principal=principal, resident_id=resident_id):
        raise NotFound("resident not found", resident_id=resident_id)


async def edit_or_raise(*, conn: AsyncConnection, principal: Principal, resident_id: int) -> None:
    """Raise unless the caller may change this resident: in reach and a staff editor role."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    if principal.role not in RESIDENT_EDITORS:
        raise Forbidden("your role may not change residents", role=principal.role)
