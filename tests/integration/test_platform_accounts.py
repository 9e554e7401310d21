"""The platform's accounts are created on first use, once, whoever gets there first."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from adledger.domain.ledger import AccountKind
from adledger.store.ledger import platform_account_id
from adledger.store.models import LedgerAccount


async def test_first_use_creates_the_account_and_later_uses_find_it(db, sessions) -> None:
    async with sessions() as session:
        created = await platform_account_id(session, AccountKind.REVENUE, "KWD")
        found = await platform_account_id(session, AccountKind.REVENUE, "KWD")
        other = await platform_account_id(session, AccountKind.REVENUE, "JPY")
        await session.commit()

    assert created == found
    assert other != created


async def test_a_creation_committed_while_waiting_is_found_not_duplicated(db, sessions) -> None:
    # given a transaction that has created the account and not committed yet
    async with sessions() as first, sessions() as second:
        created = await platform_account_id(first, AccountKind.REFUNDS_CLEARING, "EUR")
        # when a second asks for it (waiting on the first's row) and the first commits
        waiting = asyncio.create_task(
            platform_account_id(second, AccountKind.REFUNDS_CLEARING, "EUR")
        )
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await first.commit()
        # then the second gets the same account
        assert await asyncio.wait_for(waiting, 10) == created
        await second.commit()

    async with sessions() as session:
        key = "platform:refunds_clearing:EUR"
        count = select(func.count()).where(LedgerAccount.key == key)
        assert await session.scalar(count) == 1
