"""Every timestamp the app writes comes from the one clock, not from the database's: with
the clock on another date, the rows are dated by it, so what compares them with the app's
`now` (statements by `created_at`, card setups per day, invoices created before a moment)
agrees with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.app.demo.seed import seed_demo
from adledger.services.config import BillingConfig
from tests.helpers import TimeTravel

pytestmark = pytest.mark.usefixtures("db")

LEAP_DAY = datetime(2028, 2, 29, 12, tzinfo=UTC)

# Every table the demo writes that dates its rows as they are written.
_DATED = {
    "users": "created_at",
    "api_tokens": "created_at",
    "business_centers": "created_at",
    "memberships": "created_at",
    "ad_accounts": "created_at",
    "wallets": "created_at",
    "ledger_accounts": "created_at",
    "ledger_entries": "created_at",
    "ledger_postings": "created_at",
    "invoices": "created_at",
    "top_ups": "created_at",
    "plan_subscriptions": "created_at",
    "campaigns": "created_at",
}


async def test_rows_written_on_a_moved_clock_are_dated_by_it(
    sessions: async_sessionmaker[AsyncSession], time_travel: TimeTravel
) -> None:
    # given the clock on a leap day, four years from anything the database's clock says
    time_travel.to(LEAP_DAY)
    # when the demo is written through the services
    async with sessions() as session:
        await seed_demo(session, BillingConfig(), clock.now())
        await session.commit()
    # then every row it wrote is dated that day, within the minute
    async with sessions() as session:
        spans = {
            table: (
                await session.execute(
                    text(f"SELECT MIN({column}), MAX({column}), COUNT(*) FROM {table}")
                )
            ).one()
            for table, column in _DATED.items()
        }
    for table, (oldest, newest, count) in spans.items():
        assert count > 0, table
        assert LEAP_DAY <= oldest <= newest < LEAP_DAY + timedelta(minutes=1), table


async def test_an_entrys_postings_share_its_moment(
    sessions: async_sessionmaker[AsyncSession], time_travel: TimeTravel
) -> None:
    # given the clock moved to the last half hour of a year
    time_travel.to(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    # when the demo posts its entries
    async with sessions() as session:
        await seed_demo(session, BillingConfig(), clock.now())
        await session.commit()
    # then each entry and its postings carry one created_at
    async with sessions() as session:
        straddling = await session.scalar(
            text(
                "SELECT COUNT(*) FROM ledger_postings p JOIN ledger_entries e "
                "ON e.id = p.entry_id WHERE p.created_at <> e.created_at"
            )
        )
    assert straddling == 0
