"""The time bank: a double-entry ledger in minutes.

Every posting is a transaction whose entries sum to zero (checked again by a deferred trigger),
with an idempotency key and an author. Balances live on the ledger accounts and are changed in
the same transaction, in account-id order (no deadlocks); a CHECK keeps every balance but the
system account's at or above zero, so concurrent redemptions cannot overdraw.
"""

from __future__ import annotations

from psycopg import errors

from api.db import DbConn, returned_row
from api.errors import Conflict, NotFound

TXN_COLUMNS = "txn_id, idempotency_key, kind, author_id, on_behalf_of, booking_id, memo, created_at"


async def system_account(*, conn: DbConn) -> int:
    """The issuance account that mints earned minutes (the only one allowed below zero)."""
    row = await returned_row(
        await conn.execute("SELECT tb_account_id FROM tb_accounts WHERE kind = 'system'")
    )
    return row["tb_account_id"]


async def member_account(*, conn: DbConn, account_id: int) -> int:
    """The ledger account of a person's account, created on first use."""
    await conn.execute(
        """INSERT INTO tb_accounts (kind, account_id) VALUES ('member', %s)
                          ON CONFLICT (account_id) DO NOTHING""",
        (account_id,),
    )
    row = await returned_row(
        await conn.execute(
            "SELECT tb_account_id FROM tb_accounts WHERE account_id = %s", (account_id,)
        )
    )
    return row["tb_account_id"]


async def resident_account(*, conn: DbConn, resident_id: int) -> int:
    """The ledger account of a resident, created on first use."""
    await conn.execute(
        """INSERT INTO tb_accounts (kind, resident_id) VALUES ('resident', %s)
                          ON CONFLICT (resident_id) DO NOTHING""",
        (resident_id,),
    )
    row = await returned_row(
        await conn.execute(
            "SELECT tb_account_id FROM tb_accounts WHERE resident_id = %s", (resident_id,)
        )
    )
    return row["tb_account_id"]


async def post(
    *,
    conn: DbConn,
    idempotency_key: str,
    kind: str,
    author_id: int,
    entries: dict[int, int],
    booking_id: int | None = None,
    on_behalf_of: int | None = None,
    memo: str = "",
) -> dict:
    """Post a balanced transaction {ledger account: minutes}; replaying a key returns the
    original transaction. Conflict on overdraft or a booking already posted."""
    if sum(entries.values()) != 0 or any(v == 0 for v in entries.values()):
        raise ValueError("a transaction's entries must be non-zero and sum to zero")
    async with conn.transaction():
        try:
            cur = await conn.execute(
                f"""INSERT INTO tb_transactions (idempotency_key, kind, author_id, on_behalf_of,
                        booking_id, memo) VALUES (%s, %s, %s, %s, %s, %s)
                    ON CONFLICT (idempotency_key) DO NOTHING RETURNING {TXN_COLUMNS}""",
                (idempotency_key, kind, author_id, on_behalf_of, booking_id, memo),
            )
        except errors.UniqueViolation:
            raise Conflict("this booking is already posted", booking_id=booking_id) from None
        txn = await cur.fetchone()
        if txn is None:
            return await _replayed(
                conn=conn, idempotency_key=idempotency_key, kind=kind, author_id=author_id
            )
        for tb_account_id in sorted(entries):
            try:
                await conn.execute(
                    """UPDATE tb_accounts SET balance_min = balance_min + %s
                       WHERE tb_account_id = %s""",
                    (entries[tb_account_id], tb_account_id),
                )
            except errors.CheckViolation:
                raise Conflict("not enough minutes", tb_account_id=tb_account_id) from None
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO tb_entries (txn_id, tb_account_id, amount_min) VALUES (%s, %s, %s)",
                [(txn["txn_id"], acc, amount) for acc, amount in entries.items()],
            )
    return txn


async def _replayed(*, conn: DbConn, idempotency_key: str, kind: str, author_id: int) -> dict:
    """The transaction an idempotency key already posted, if it is the same request."""
    txn = await returned_row(
        await conn.execute(
            f"SELECT {TXN_COLUMNS} FROM tb_transactions WHERE idempotency_key = %s",
            (idempotency_key,),
        )
    )
    if txn["kind"] != kind or txn["author_id"] != author_id:
        raise Conflict("idempotency key already used for another posting")
    return txn


async def balance(*, conn: DbConn, tb_account_id: int) -> int:
    """Current balance in minutes."""
    row = await (
        await conn.execute(
            "SELECT balance_min FROM tb_accounts WHERE tb_account_id = %s", (tb_account_id,)
        )
    ).fetchone()
    if row is None:
        raise NotFound("ledger account not found")
    return row["balance_min"]


async def statement(*, conn: DbConn, tb_account_id: int, limit: int, offset: int) -> list[dict]:
    """Entries of a ledger account, newest first, with their transaction."""
    cur = await conn.execute(
        """SELECT e.entry_id, e.amount_min, t.txn_id, t.idempotency_key, t.kind, t.author_id,
                  t.on_behalf_of, t.booking_id, t.memo, t.created_at
           FROM tb_entries e JOIN tb_transactions t USING (txn_id)
           WHERE e.tb_account_id = %s ORDER BY e.entry_id DESC LIMIT %s OFFSET %s""",
        (tb_account_id, limit, offset),
    )
    return await cur.fetchall()


async def duration_of(*, conn: DbConn, booking_id: int) -> int:
    """Minutes a booking is worth: its service's duration."""
    row = await returned_row(
        await conn.execute(
            """SELECT c.duration_min FROM bookings b JOIN service_catalog c USING (service)
           WHERE b.booking_id = %s""",
            (booking_id,),
        )
    )
    return row["duration_min"]


async def earn_for_booking(*, conn: DbConn, booking: dict, author_id: int) -> dict | None:
    """Credit a volunteer provider with the minutes of a completed, confirmed booking."""
    row = await (
        await conn.execute(
            "SELECT account_id FROM providers WHERE provider_id = %s AND kind = 'volunteer'",
            (booking["provider_id"],),
        )
    ).fetchone()
    if row is None:
        return None
    minutes = await duration_of(conn=conn, booking_id=booking["booking_id"])
    volunteer = await member_account(conn=conn, account_id=row["account_id"])
    system = await system_account(conn=conn)
    return await post(
        conn=conn,
        idempotency_key=f"booking:{booking['booking_id']}:earn",
        kind="earn",
        author_id=author_id,
        entries={system: -minutes, volunteer: minutes},
        booking_id=booking["booking_id"],
        memo=f"{booking['service']} completed",
    )
