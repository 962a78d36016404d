"""Time-bank ledger invariants: balances sum to zero, nothing is overdrawn, even concurrently."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.errors import Conflict
from api.timebank import service
from tests.api.ledger import connect, seed_minutes


def _ledger_totals(db: psycopg.Connection) -> tuple[int, int, int]:
    """(sum of balances, sum of entries, balances that disagree with their entries)."""
    return db.execute(
        """SELECT (SELECT coalesce(sum(balance_min), 0) FROM tb_accounts),
                  (SELECT coalesce(sum(amount_min), 0) FROM tb_entries),
                  (SELECT count(*) FROM tb_accounts a WHERE a.balance_min <> (
                       SELECT coalesce(sum(amount_min), 0) FROM tb_entries e
                       WHERE e.tb_account_id = a.tb_account_id))"""
    ).fetchone()


operations = st.lists(
    st.tuples(
        st.sampled_from(["earn", "give", "redeem"]),
        st.integers(0, 3),
        st.integers(0, 3),
        st.integers(1, 120),
    ),
    min_size=1,
    max_size=15,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_random_postings_keep_the_ledger_balanced_and_never_negative(ops, db, make_actor):
    actors = [make_actor("volunteer") for _ in range(4)]

    async def run() -> None:
        async with await connect(db.info.dsn) as conn:
            accounts = [
                await service.member_account(conn=conn, account_id=a.account_id) for a in actors
            ]
            system = await service.system_account(conn=conn)
            for kind, i, j, minutes in ops:
                entries = {
                    "earn": {system: -minutes, accounts[i]: minutes},
                    "give": {accounts[i]: -minutes, accounts[j]: minutes} if i != j else None,
                    "redeem": {accounts[i]: -minutes, system: minutes},
                }[kind]
                if entries is None:
                    continue
                with contextlib.suppress(Conflict):  # an overdraft is refused, not fatal
                    await service.post(
                        conn=conn,
                        idempotency_key=uuid.uuid4().hex,
                        kind="donate" if kind == "give" else kind,
                        author_id=actors[i].account_id,
                        entries=entries,
                    )

    asyncio.run(run())
    total_balance, total_entries, disagreeing = _ledger_totals(db)
    assert total_balance == 0 and total_entries == 0 and disagreeing == 0
    negative = db.execute(
        "SELECT count(*) FROM tb_accounts WHERE kind <> 'system' AND balance_min < 0"
    ).fetchone()[0]
    assert negative == 0


def test_concurrent_redemptions_never_overdraw(db, make_actor):
    volunteer = make_actor("volunteer")
    member = asyncio.run(seed_minutes(db.info.dsn, account_id=volunteer.account_id, minutes=100))

    async def redeem_once() -> bool:
        async with await connect(db.info.dsn) as conn:
            system = await service.system_account(conn=conn)
            try:
                await service.post(
                    conn=conn,
                    idempotency_key=uuid.uuid4().hex,
                    kind="redeem",
                    author_id=volunteer.account_id,
                    entries={member: -30, system: 30},
                )
            except Conflict:
                return False
            return True

    async def race() -> list[bool]:
        return await asyncio.gather(*(redeem_once() for _ in range(10)))

    results = asyncio.run(race())
    assert results.count(True) == 3
    balance = db.execute(
        "SELECT balance_min FROM tb_accounts WHERE tb_account_id = %s", (member,)
    ).fetchone()[0]
    assert balance == 10
    assert _ledger_totals(db)[:2] == (0, 0)


def test_same_idempotency_key_posts_once_even_concurrently(db, make_actor):
    volunteer = make_actor("volunteer")
    member = asyncio.run(seed_minutes(db.info.dsn, account_id=volunteer.account_id, minutes=100))
    key = uuid.uuid4().hex

    async def redeem() -> int:
        async with await connect(db.info.dsn) as conn:
            system = await service.system_account(conn=conn)
            txn = await service.post(
                conn=conn,
                idempotency_key=key,
                kind="redeem",
                author_id=volunteer.account_id,
                entries={member: -10, system: 10},
            )
            return txn["txn_id"]

    async def race() -> list[int]:
        return await asyncio.gather(*(redeem() for _ in range(5)))

    assert len(set(asyncio.run(race()))) == 1
    balance = db.execute(
        "SELECT balance_min FROM tb_accounts WHERE tb_account_id = %s", (member,)
    ).fetchone()[0]
    assert balance == 90


def test_unbalanced_entries_are_refused_by_the_database(db, make_actor):
    volunteer = make_actor("volunteer")
    member = asyncio.run(seed_minutes(db.info.dsn, account_id=volunteer.account_id, minutes=5))
    with psycopg.connect(db.info.dsn) as conn:
        txn = conn.execute(
            """INSERT INTO tb_transactions (idempotency_key, kind, author_id)
                              VALUES (%s, 'donate', %s) RETURNING txn_id""",
            (uuid.uuid4().hex, volunteer.account_id),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO tb_entries (txn_id, tb_account_id, amount_min) VALUES (%s, %s, 5)",
            (txn, member),
        )
        try:
            conn.commit()
        except psycopg.errors.RaiseException:
            pass
        else:
            raise AssertionError("an unbalanced transaction was committed")
