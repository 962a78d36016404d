"""Object-level access: which residents a caller may reach.

Admin and duty staff reach every resident; grid workers, community directors and street
officers the residents of their grids; family members the residents linked to them with
consent on record and not withdrawn; volunteers none. Anything else is answered exactly
like a resident that does not exist.
"""

from __future__ import annotations

from api.db import DbConn
from api.deps import RESIDENT_EDITORS, Principal
from api.errors import Forbidden, NotFound

# A WHERE fragment over `r` (residents): constant SQL, the caller's account id a parameter.
# Everything else (role, disabled, grids, consent) is read from the database in the same
# statement, so a withdrawn consent or a disabled account counts from its commit on.
SCOPE_SQL = """EXISTS (
    SELECT 1 FROM accounts sa WHERE sa.account_id = %(scope_account)s AND NOT sa.disabled AND (
        sa.role IN ('admin', 'duty_staff')
        OR (sa.role IN ('grid_worker', 'community_director', 'street_officer') AND EXISTS (
            SELECT 1 FROM account_grids sg
            WHERE sg.account_id = sa.account_id AND sg.grid_id = r.grid_id))
        OR (sa.role = 'family' AND EXISTS (
            SELECT 1 FROM family_links f
            WHERE f.resident_id = r.resident_id AND f.account_id = sa.account_id
              AND f.withdrawn_at IS NULL))))"""


# A WHERE fragment over `a` (alerts) LEFT JOIN `r` (residents): the alerts a caller may see
# on the console. Admin and duty staff see every alert, including those of unbound bands and
# the system; grid-scoped roles see the alerts of residents they reach under SCOPE_SQL;
# family members and volunteers see none (the console is not theirs).
ALERT_SCOPE_SQL = f"""EXISTS (
    SELECT 1 FROM accounts ca WHERE ca.account_id = %(scope_account)s AND NOT ca.disabled AND (
        ca.role IN ('admin', 'duty_staff')
        OR (ca.role IN ('grid_worker', 'community_director', 'street_officer')
            AND r.resident_id IS NOT NULL AND {SCOPE_SQL})))"""


def scope_params(principal: Principal | int) -> dict[str, object]:
    """Parameters for SCOPE_SQL, from a Principal or a bare account id."""
    account_id = principal if isinstance(principal, int) else principal.account_id
    return {"scope_account": account_id}


async def can_reach(*, conn: DbConn, principal: Principal, resident_id: int) -> bool:
    """True if the caller may see this resident."""
    row = await (
        await conn.execute(
            "SELECT 1 FROM residents r WHERE r.resident_id = %(rid)s AND " + SCOPE_SQL,
            {"rid": resident_id, **scope_params(principal)},
        )
    ).fetchone()
    return row is not None


async def reach_or_raise(*, conn: DbConn, principal: Principal, resident_id: int) -> None:
    """Raise NotFound unless the caller may see this resident."""
    if not await can_reach(conn=conn, principal=principal, resident_id=resident_id):
        raise NotFound("resident not found", resident_id=resident_id)


async def edit_or_raise(*, conn: DbConn, principal: Principal, resident_id: int) -> None:
    """Raise unless the caller may change this resident: in reach and a staff editor role."""
    await reach_or_raise(conn=conn, principal=principal, resident_id=resident_id)
    if principal.role not in RESIDENT_EDITORS:
        raise Forbidden("your role may not change residents", role=principal.role)
