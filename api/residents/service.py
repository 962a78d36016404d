"""Residents, their emergency contacts, family links (with consent) and threshold overrides."""

from __future__ import annotations

from typing import Any

import psycopg

from alerting.rules import thresholds
from api.access import SCOPE_SQL, scope_params
from api.db import DbConn, returned_row
from api.deps import RESIDENT_EDITORS, Principal
from api.errors import Conflict, Forbidden, Invalid, NotFound
from api.residents.models import NOT_CLEARABLE

RESIDENT_COLUMNS = """r.resident_id, r.full_name, r.created_at, r.birth_date, r.sex, r.address,
    r.phone, r.grid_id, r.living_alone, r.disabled, r.low_income, r.medical_notes, r.timezone,
    r.home_lat, r.home_lon,
    coalesce((SELECT array_agg(device_id ORDER BY device_id) FROM devices d
              WHERE d.resident_id = r.resident_id AND d.state = 'active'), '{}') AS device_ids"""
UPDATABLE = (
    "full_name",
    "birth_date",
    "sex",
    "address",
    "phone",
    "grid_id",
    "living_alone",
    "disabled",
    "low_income",
    "medical_notes",
    "timezone",
    "home_lat",
    "home_lon",
)
# Columns a PATCH may not set to null (the others are optional facts that can be cleared).


async def create(*, conn: DbConn, fields: dict[str, Any]) -> dict:
    """A new resident."""
    try:
        row = await returned_row(
            await conn.execute(
                """INSERT INTO residents (full_name, birth_date, sex, address, phone, grid_id,
                       living_alone, disabled, low_income, medical_notes, timezone,
                       home_lat, home_lon)
                   VALUES (%(full_name)s, %(birth_date)s, %(sex)s, %(address)s, %(phone)s,
                       %(grid_id)s, %(living_alone)s, %(disabled)s, %(low_income)s,
                       %(medical_notes)s, %(timezone)s, %(home_lat)s, %(home_lon)s)
                   RETURNING resident_id""",
                fields,
            )
        )
    except psycopg.errors.ForeignKeyViolation:
        raise Conflict("no such grid", grid_id=fields.get("grid_id")) from None
    return await get_or_raise(conn=conn, resident_id=row["resident_id"])


async def get(*, conn: DbConn, resident_id: int) -> dict | None:
    """One resident, or None (callers check reach first)."""
    cur = await conn.execute(
        f"SELECT {RESIDENT_COLUMNS} FROM residents r WHERE r.resident_id = %s", (resident_id,)
    )
    return await cur.fetchone()


async def get_or_raise(*, conn: DbConn, resident_id: int) -> dict:
    """One resident, or NotFound."""
    row = await get(conn=conn, resident_id=resident_id)
    if row is None:
        raise NotFound("resident not found", resident_id=resident_id)
    return row


async def list_visible(
    *, conn: DbConn, principal: Principal, grid_id: int | None, limit: int, offset: int
) -> list[dict]:
    """The residents the caller may see, by id."""
    cur = await conn.execute(
        f"""SELECT {RESIDENT_COLUMNS} FROM residents r
            WHERE {SCOPE_SQL} AND (%(grid)s::bigint IS NULL OR r.grid_id = %(grid)s)
            ORDER BY r.resident_id LIMIT %(limit)s OFFSET %(offset)s""",
        {**scope_params(principal), "grid": grid_id, "limit": limit, "offset": offset},
    )
    return await cur.fetchall()


async def update(*, conn: DbConn, resident_id: int, changes: dict[str, Any]) -> dict:
    """Change the given fields of a resident."""
    changes = {k: v for k, v in changes.items() if k in UPDATABLE}
    cleared = sorted(k for k, v in changes.items() if v is None and k in NOT_CLEARABLE)
    if cleared:
        raise Invalid("these fields cannot be cleared", fields=cleared)
    if changes:
        # Column names come from the UPDATABLE allow-list, values are parameters.
        assignments = ", ".join(f"{name} = %({name})s" for name in changes)
        try:
            await conn.execute(
                f"UPDATE residents SET {assignments} WHERE resident_id = %(rid)s",
                {**changes, "rid": resident_id},
            )
        except psycopg.errors.ForeignKeyViolation:
            raise Conflict("no such grid", grid_id=changes.get("grid_id")) from None
    return await get_or_raise(conn=conn, resident_id=resident_id)


async def list_contacts(*, conn: DbConn, resident_id: int) -> list[dict]:
    """Emergency contacts in calling order (a resident has a handful at most)."""
    cur = await conn.execute(
        """SELECT contact_id, resident_id, name, relation, phone, priority
           FROM emergency_contacts WHERE resident_id = %s ORDER BY priority, contact_id
           LIMIT 100""",
        (resident_id,),
    )
    return await cur.fetchall()


async def add_contact(*, conn: DbConn, resident_id: int, fields: dict[str, Any]) -> dict:
    """Add an emergency contact."""
    cur = await conn.execute(
        """INSERT INTO emergency_contacts (resident_id, name, relation, phone, priority)
           VALUES (%(rid)s, %(name)s, %(relation)s, %(phone)s, %(priority)s)
           RETURNING contact_id, resident_id, name, relation, phone, priority""",
        {**fields, "rid": resident_id},
    )
    return await returned_row(cur)


async def delete_contact(*, conn: DbConn, resident_id: int, contact_id: int) -> None:
    """Remove an emergency contact of this resident, or NotFound."""
    cur = await conn.execute(
        "DELETE FROM emergency_contacts WHERE contact_id = %s AND resident_id = %s",
        (contact_id, resident_id),
    )
    if cur.rowcount == 0:
        raise NotFound("contact not found", contact_id=contact_id)


LINK_COLUMNS = """link_id, resident_id, account_id, relation, consent_method, consent_note,
    consent_recorded_by, consent_given_at, withdrawn_at, withdrawn_by"""


async def create_family_link(
    *, conn: DbConn, resident_id: int, recorded_by: int, fields: dict[str, Any]
) -> dict:
    """Link a family account to a resident, recording the consent that allows it."""
    async with conn.transaction():
        account = await (
            await conn.execute(
                "SELECT role FROM accounts WHERE account_id = %s", (fields["account_id"],)
            )
        ).fetchone()
        if account is None or account["role"] != "family":
            raise Conflict("only a family account can be linked", account_id=fields["account_id"])
        try:
            cur = await conn.execute(
                f"""INSERT INTO family_links (resident_id, account_id, relation, consent_method,
                        consent_note, consent_recorded_by)
                    VALUES (%(rid)s, %(account_id)s, %(relation)s, %(consent_method)s,
                        %(consent_note)s, %(by)s)
                    RETURNING {LINK_COLUMNS}""",
                {**fields, "rid": resident_id, "by": recorded_by},
            )
        except psycopg.errors.UniqueViolation:
            raise Conflict("this family member is already linked") from None
        return await returned_row(cur)


# The family links a caller sees among a resident's: a family member only their own, staff all.
# A WHERE fragment over family_links; %(own_links_of)s is None for staff.
_LINKS_SEEN = "(%(own_links_of)s::bigint IS NULL OR account_id = %(own_links_of)s)"


def _own_links_of(principal: Principal) -> int | None:
    return principal.account_id if principal.role == "family" else None


async def list_family_links(
    *, conn: DbConn, principal: Principal, resident_id: int, limit: int, offset: int
) -> list[dict]:
    """The resident's family links the caller sees, withdrawn ones included (the consent
    record); a family member sees only their own."""
    cur = await conn.execute(
        f"""SELECT {LINK_COLUMNS} FROM family_links
            WHERE resident_id = %(rid)s AND {_LINKS_SEEN}
            ORDER BY link_id LIMIT %(limit)s OFFSET %(offset)s""",
        {
            "rid": resident_id,
            "own_links_of": _own_links_of(principal),
            "limit": limit,
            "offset": offset,
        },
    )
    return await cur.fetchall()


async def withdraw_consent_or_raise(
    *, conn: DbConn, principal: Principal, resident_id: int, link_id: int
) -> dict:
    """Withdraw the consent of a family link; access ends with this commit.

    Staff editors withdraw any link of the resident, a family member only their own (another's
    is NotFound, like a missing one); other roles are Forbidden.
    """
    params = {"rid": resident_id, "link_id": link_id, "own_links_of": _own_links_of(principal)}
    if principal.role not in RESIDENT_EDITORS and principal.role != "family":
        cur = await conn.execute(
            "SELECT 1 FROM family_links WHERE link_id = %(link_id)s AND resident_id = %(rid)s",
            params,
        )
        if await cur.fetchone() is None:
            raise NotFound("family link not found", link_id=link_id)
        raise Forbidden("your role may not withdraw consent")
    cur = await conn.execute(
        f"""UPDATE family_links SET withdrawn_at = coalesce(withdrawn_at, now()),
                withdrawn_by = coalesce(withdrawn_by, %(by)s)
            WHERE link_id = %(link_id)s AND resident_id = %(rid)s AND {_LINKS_SEEN}
            RETURNING {LINK_COLUMNS}""",
        {**params, "by": principal.account_id},
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound("family link not found", link_id=link_id)
    return row


async def get_thresholds(*, conn: DbConn, resident_id: int) -> dict:
    """A resident's threshold overrides, the engine's defaults, and the last change."""
    rows = await (
        await conn.execute(
            """SELECT name, value, updated_at, updated_by FROM alert_thresholds
               WHERE resident_id = %s ORDER BY updated_at DESC, name""",
            (resident_id,),
        )
    ).fetchall()
    return {
        "resident_id": resident_id,
        "overrides": {r["name"]: r["value"] for r in rows},
        "defaults": thresholds.defaults(),
        "updated_at": rows[0]["updated_at"] if rows else None,
        "updated_by": rows[0]["updated_by"] if rows else None,
    }


async def put_thresholds(
    *, conn: DbConn, resident_id: int, overrides: dict[str, float], updated_by: int
) -> dict:
    """Replace a resident's threshold overrides (the engine reads them on its next refresh)."""
    async with conn.transaction():
        # One replacement at a time per resident: two at once would collide on the same names.
        await conn.execute(
            "SELECT 1 FROM residents WHERE resident_id = %s FOR UPDATE", (resident_id,)
        )
        await conn.execute("DELETE FROM alert_thresholds WHERE resident_id = %s", (resident_id,))
        async with conn.cursor() as cur:
            await cur.executemany(
                """INSERT INTO alert_thresholds (resident_id, name, value, updated_by)
                   VALUES (%s, %s, %s, %s)""",
                [(resident_id, name, value, updated_by) for name, value in overrides.items()],
            )
    return await get_thresholds(conn=conn, resident_id=resident_id)
