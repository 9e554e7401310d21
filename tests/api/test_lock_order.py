"""One lock order (`Level` in adledger/store/locks.py; platform accounts never locked):
renewals and top-ups running at once all succeed, each renewal is its own transaction, and
the platform's accounts are nobody's hot row. The guard is on for the whole suite."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from adledger.domain.ledger import AccountKind
from adledger.jobs.billing import renew_subscriptions_job
from adledger.jobs.reports import RenewalReport
from adledger.services import subscriptions
from adledger.store import business_centers as centers
from adledger.store import locks
from adledger.store.locks import Level
from adledger.store.models import Invoice, LedgerAccount, PlanSubscription
from tests.api.campaign_fixtures import open_shop
from tests.api.event_scenarios import usd
from tests.helpers import campaign_action, create_center, launch, new_campaign, subscribe, top_up

DOCS = Path(__file__).parents[2] / "docs" / "operations.md"
FUNDED = 20  # renewals paid from the balance, with top-ups arriving meanwhile
SHORT = 10  # renewals the balance cannot cover: invoiced


async def _subscribed_centers(api, users, count: int, funds: str):
    centers = []
    for _ in range(count):
        center = await create_center(api, await users.create("admin"))
        await users.fund(center.wallet_id, funds)
        await subscribe(api, center, "PRO")
        centers.append(center)
    return centers


async def _latest_period_end(sessions) -> datetime:
    async with sessions() as session:
        ends = await session.scalars(select(PlanSubscription.current_period_end))
        return max(ends)


async def _invoice_numbers(sessions) -> list[str]:
    async with sessions() as session:
        return sorted(await session.scalars(select(Invoice.number)))


async def test_thirty_renewals_and_concurrent_top_ups_all_succeed(
    api, users, jobs, sessions
) -> None:
    # given 30 subscriptions whose periods end, 20 of them on wallets being topped up
    funded = await _subscribed_centers(api, users, FUNDED, "1000.00")
    await _subscribed_centers(api, users, SHORT, "250.00")
    now = await _latest_period_end(sessions)
    top_ups = [
        top_up(api, center.wallet_id, center.admin.token, **ask)
        for center in funded
        for ask in ({"amount": "20.00"}, {"target": "5000.00"}, {"amount": "15.00"})
    ]
    # when the renewal job runs while the top-ups arrive
    report, *answers = await asyncio.gather(renew_subscriptions_job(jobs, now), *top_ups)
    # then every renewal and every top-up succeeded
    assert report == RenewalReport(paid_from_balance=FUNDED, invoiced=SHORT)
    assert [answer["__typename"] for answer in answers] == ["TopUpWalletSuccess"] * len(top_ups)
    # and invoice numbers stayed unique and gapless within each year (renewals at a
    # period end in the next year are numbered in that year)
    numbers = await _invoice_numbers(sessions)
    assert len(numbers) == 2 * (FUNDED + SHORT) + len(top_ups)
    by_year: dict[str, list[str]] = {}
    for number in numbers:
        by_year.setdefault(number[4:8], []).append(number)
    for year, numbered in by_year.items():
        assert numbered == [f"INV-{year}-{n:06d}" for n in range(1, len(numbered) + 1)]


async def test_two_jobs_for_the_same_instant_renew_each_subscription_once(
    api, users, jobs, sessions
) -> None:
    await _subscribed_centers(api, users, 6, "1000.00")
    now = await _latest_period_end(sessions)

    first, second = await asyncio.gather(
        renew_subscriptions_job(jobs, now), renew_subscriptions_job(jobs, now)
    )

    assert first.renewed + second.renewed == 6
    assert first.failed == second.failed == 0
    async with sessions() as session:
        assert set(await session.scalars(select(PlanSubscription.period_index))) == {1}


async def test_one_failing_renewal_rolls_back_that_renewal_only(
    api, users, jobs, sessions, monkeypatch
) -> None:
    # given three due subscriptions, one of which fails halfway through its renewal
    await _subscribed_centers(api, users, 3, "1000.00")
    now = await _latest_period_end(sessions)
    async with sessions() as session:
        doomed = min(await session.scalars(select(PlanSubscription.id)))
    real_bill = subscriptions._bill_period

    async def bill(session, center, subscription, *args):
        if subscription.id == doomed:
            await real_bill(session, center, subscription, *args)  # writes, then fails
            raise RuntimeError("the database went away")
        return await real_bill(session, center, subscription, *args)

    monkeypatch.setattr(subscriptions, "_bill_period", bill)
    # when the job runs
    report = await renew_subscriptions_job(jobs, now)
    # then the others are renewed and the failed one is untouched, for the next run
    assert report == RenewalReport(paid_from_balance=2, failed=1)
    assert "1 failed" in str(report)
    async with sessions() as session:
        indexes = dict(
            (
                await session.execute(select(PlanSubscription.id, PlanSubscription.period_index))
            ).all()
        )
    assert indexes[doomed] == 0
    assert sorted(indexes.values()) == [0, 1, 1]
    monkeypatch.setattr(subscriptions, "_bill_period", real_bill)
    assert await renew_subscriptions_job(jobs, now) == RenewalReport(paid_from_balance=1)


async def test_money_moves_while_a_platform_account_row_is_locked(
    api, users, sessions, engine
) -> None:
    """Nothing locks or rewrites a platform account row, so a writer holding it (as every
    entry did when the platform's balances were cached: an UPDATE takes this lock until its
    commit) delays no payment. Postings only take the foreign key's KEY SHARE lock."""
    # given a funded center and the platform's revenue account, locked by someone else
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "1000.00")
    await subscribe(api, center, "STARTER")  # creates the revenue account
    async with engine.connect() as other:
        await other.execute(text("SET lock_timeout = '5s'"))
        revenue = await other.scalar(
            select(LedgerAccount.id)
            .where(LedgerAccount.kind == AccountKind.REVENUE.value)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE
        )
        assert revenue is not None
        # when a payment to revenue is made meanwhile
        second = await create_center(api, await users.create("admin"))
        await users.fund(second.wallet_id, "1000.00")
        paid = await asyncio.wait_for(subscribe(api, second, "PRO"), timeout=60)
        await other.rollback()
    # then it went through without waiting for the lock
    assert paid["__typename"] == "SubscribeToPlanSuccess"
    assert paid["invoice"]["status"] == "PAID"


async def test_platform_balances_are_derived_from_postings_not_cached(api, users, sessions) -> None:
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "1000.00")
    await subscribe(api, center, "PRO")

    async with sessions() as session:
        cached = dict(
            (
                await session.execute(
                    select(LedgerAccount.kind, LedgerAccount.balance).where(
                        LedgerAccount.wallet_id.is_(None)
                    )
                )
            ).all()
        )
        posted = await session.scalar(
            text(
                "SELECT SUM(p.amount) FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id "
                "WHERE a.kind = 'revenue'"
            )
        )
    assert cached[AccountKind.REVENUE.value] == 0
    assert posted == 19900


def test_the_written_order_is_the_modules() -> None:
    """docs/operations.md lists the levels as store/locks.py names them, in its order."""
    assert locks.describe_order() in DOCS.read_text()
    assert min(Level) == Level.SUBJECT and max(Level) == Level.EVENT_SEQUENCE


async def test_the_guard_is_on_and_refuses_a_lock_below_one_held(sessions) -> None:
    # given a transaction holding a campaign's lock (the guard is on for the whole suite)
    assert locks.enabled()
    async with sessions() as session:
        locks.register(session, Level.CAMPAIGNS, [1])
        # when it asks for a business center's then
        with pytest.raises(locks.LockOrderViolation, match="BUSINESS_CENTERS"):
            await centers.lock_business_center(session, 1)


GRANT = """
mutation($input: GrantVouchersInput!) {
  grantVouchers(input: $input) { __typename ... on UserError { code message } }
}"""


async def test_canceling_a_campaign_funded_by_vouchers_while_another_waits_keeps_the_order(
    api, users
) -> None:
    # given an account with no cash, whose first campaign was funded by vouchers alone and
    # whose second waits for money (found by the campaign state machine: the return moved
    # only vouchers, so it held them when funding the waiting one took the cash below)
    shop = await open_shop(api, users)
    staff = await users.create("staff", staff=True)
    funded = await new_campaign(api, shop.account, shop.token, "50.00")
    waiting = await new_campaign(api, shop.account, shop.token, "400.00")
    assert (await launch(api, funded, shop.token))["campaign"]["status"] == "PENDING_FUNDS"
    assert (await launch(api, waiting, shop.token))["campaign"]["status"] == "PENDING_FUNDS"
    grant = {"walletId": shop.account.wallet_id, "reason": "goodwill", "amount": usd("60.00")}
    granted = (await api.data(GRANT, {"input": grant}, staff.token))["grantVouchers"]
    assert granted["__typename"] == "GrantVouchersSuccess", granted
    # when the funded one is canceled (the guard fails any lock out of the order)
    canceled = await campaign_action(api, "cancelCampaign", funded, shop.token)
    # then its vouchers are back, and the other still waits for more than they cover
    assert canceled["campaign"]["status"] == "CANCELED", canceled
    assert canceled["campaign"]["credited"]["amount"] == "50.00"
