"""Migration 0015 (conservation per campaign) on a ledger written before it: a makegood
paid from revenue, then the sweep paying the same money back (issue 23), and a
checkpoint. After the upgrade the campaign's counters and the checkpoint's sums say
what its postings say, so verify-ledger reports the double payment and nothing else;
the downgrade goes back to 0014."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adledger.domain.conservation import REVERSED
from adledger.services.verify import verify_ledger
from adledger.store.db import make_engine, make_sessionmaker
from adledger.store.migrate import alembic_config, upgrade
from tests.conftest import TEST_DATABASE

DATABASE = f"{TEST_DATABASE}_m0015"  # beside the suite's own test database


@pytest.fixture
async def at_0014(servers: tuple[str, str, str]) -> AsyncIterator[str]:
    """A database of its own, migrated up to 0014 (dropped after the test)."""
    admin_url = servers[0]
    url = make_url(admin_url).set(database=DATABASE).render_as_string(False)
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    await asyncio.to_thread(upgrade, url, "0014")
    try:
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        await admin.dispose()


# 500.00 taken for 100,000 booked impressions, 100.00 spent for 20,000; a makegood of
# 400.00 from revenue, then the sweep crediting the reserve's 400.00: all balanced.
_BEFORE = [
    "INSERT INTO business_centers (id, name, currency, allocation_mode) "
    "VALUES (1, 'Acme', 'USD', 'MANUAL')",
    "INSERT INTO ad_accounts (id, business_center_id, name, currency, billing_option, "
    "account_type) VALUES (1, 1, 'Search', 'USD', 'PREPAID', 'AUCTION')",
    "INSERT INTO wallets (id, business_center_id, ad_account_id, currency, credit_limit) "
    "VALUES (1, 1, 1, 'USD', 0)",
    "INSERT INTO campaigns (id, ad_account_id, business_center_id, wallet_id, name, status, "
    "delivery_type, payment_plan, currency, budget, taken, spent, credited, forfeited, "
    "impressions, starts_at, ends_at, paused_at_end, booked_impressions, settled_at) VALUES "
    "(1, 1, 1, 1, 'Spring', 'COMPLETED', 'GUARANTEED', 'CREDIT_BALANCE', 'USD', 50000, 50000, "
    "10000, 40000, 0, 20000, '2026-03-01+00', '2026-03-31+00', false, 100000, "
    "'2026-04-01+00')",
    "INSERT INTO ledger_accounts (id, key, kind, currency, wallet_id, campaign_id, balance) "
    "VALUES (1, 'wallet:1:cash', 'cash', 'USD', 1, NULL, 80000), "
    "(2, 'campaign:1:reserve', 'reserve', 'USD', 1, 1, 0), "
    "(3, 'platform:revenue:USD', 'revenue', 'USD', NULL, NULL, 0), "
    "(4, 'platform:payments_clearing:USD', 'payments_clearing', 'USD', NULL, NULL, 0)",
    "INSERT INTO ledger_entries (id, operation, idempotency_key, description, campaign_id) "
    "VALUES (1, 'top_up', 'k1', '', NULL), (2, 'campaign_launch', 'k2', '', 1), "
    "(3, 'spend', 'k3', '', 1), (4, 'makegood_credit', 'k4', '', 1), "
    "(5, 'underdelivery_credit', 'k5', '', 1)",
    "INSERT INTO ledger_postings (entry_id, account_id, amount, kind) VALUES "
    "(1, 4, -50000, 'TOP_UP'), (1, 1, 50000, 'TOP_UP'), "
    "(2, 1, -50000, 'CAMPAIGN_LAUNCH'), (2, 2, 50000, 'CAMPAIGN_LAUNCH'), "
    "(3, 2, -10000, 'SPEND'), (3, 3, 10000, 'SPEND'), "
    "(4, 3, -40000, 'MAKEGOOD_CREDIT'), (4, 1, 40000, 'MAKEGOOD_CREDIT'), "
    "(5, 2, -40000, 'UNDERDELIVERY_CREDIT'), (5, 1, 40000, 'UNDERDELIVERY_CREDIT')",
]
_CHECKPOINT = [
    'INSERT INTO ledger_verifications (follows, "full", since, until, postings_read) '
    "VALUES (0, true, NULL, clock_timestamp(), 10)",
    "INSERT INTO ledger_verified_campaigns (campaign_id, spent) VALUES (1, 10000)",
]


async def _run(engine: AsyncEngine, statements: list[str]) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def test_the_upgrade_counts_old_makegoods_and_the_check_reports_the_double_payment(
    at_0014: str,
) -> None:
    # given a ledger of 0014 where a makegood and the sweep both paid the 400.00 back
    engine = make_engine(at_0014)
    try:
        await _run(engine, _BEFORE)
        await _run(engine, _CHECKPOINT)
        # when it is migrated to 0015
        await asyncio.to_thread(upgrade, at_0014, "0015")
        async with engine.connect() as conn:
            campaign = (
                await conn.execute(
                    text("SELECT price, made_good_reserve, made_good_revenue FROM campaigns")
                )
            ).one()
            sums = (
                await conn.execute(
                    text(
                        "SELECT spent, taken, credited, forfeited, made_good_reserve, "
                        "made_good_revenue, other FROM ledger_verified_campaigns"
                    )
                )
            ).one()
        # (verify-ledger of today reads what later migrations added: closed months)
        await asyncio.to_thread(upgrade, at_0014, "head")
        async with make_sessionmaker(engine)() as session:
            found = await verify_ledger(session)
    finally:
        await engine.dispose()
    # then the old makegood is counted as made good from revenue, the price is the budget,
    # the checkpoint's sums are what its postings said, and only the double payment shows
    assert tuple(campaign) == (50000, 0, 40000)
    assert tuple(sums) == (10000, 50000, 40000, 0, 0, 40000, 0)
    assert [(v.rule, v.detail) for v in found] == [
        (
            REVERSED,
            "campaign 1: reversed 40000 of its billing, billed 10000 for a delivered value "
            "of 10000",
        )
    ]


async def test_the_downgrade_returns_to_0014_and_the_upgrade_runs_again(at_0014: str) -> None:
    await asyncio.to_thread(upgrade, at_0014, "0015")

    await asyncio.to_thread(command.downgrade, alembic_config(at_0014), "0014")
    await asyncio.to_thread(upgrade, at_0014, "0015")

    engine = make_engine(at_0014)
    try:
        async with engine.connect() as conn:
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    assert version == "0015"
