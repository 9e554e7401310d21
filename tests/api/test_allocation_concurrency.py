"""A hot business center: many ad accounts drawing on one balance at once, spend racing a
budget change, a paid top-up and the switch itself. Money is never drawn twice or below
zero, and what was accepted is exactly what was drawn."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import text

from tests.api.allocation_fixtures import (
    account_state,
    enable_allocation,
    live_campaigns,
    open_center,
    set_budget,
    unlimited,
)
from tests.helpers import balance, create_campaign, record_spend, spend_event, top_up


def _cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


async def _accepted_cents(sessions) -> int:
    async with sessions() as session:
        total = await session.scalar(text("SELECT COALESCE(SUM(amount - refused), 0) FROM spend_events"))  # fmt: skip
    return int(total)


async def test_twenty_accounts_drawing_on_a_center_that_covers_part_end_at_exactly_zero(
    api, users, sessions
) -> None:
    # given 20 accounts of one center holding 1234.56, each with a live campaign
    shop = await open_center(api, users, ["0.00"] * 20)
    await unlimited(api, shop)
    await users.fund(shop.center.wallet_id, "1234.56")
    campaigns = await live_campaigns(api, shop)

    # when each account reports 10 batches of 5 events of 3.33 at once (3330.00 in all)
    async def report(n: int, campaign_id: str) -> dict:
        events = [spend_event(f"hot-{n}-{campaign_id}-{i}", campaign_id, "3.33") for i in range(5)]
        return await record_spend(api, events, shop.adserver.token)

    results = await asyncio.gather(
        *(report(n, c) for n in range(10) for c in campaigns)
    )  # fmt: skip

    # then the center is at exactly zero, and what was accepted is what was drawn
    left = await balance(api, shop.center.wallet_id, shop.token)
    assert left["cash"]["amount"] == "0.00"
    refused = sum(_cents(r["amount"]["amount"]) for res in results for r in res["refused"])
    assert refused == 333000 - 123456
    assert await _accepted_cents(sessions) == 123456
    async with sessions() as session:
        spent = await session.scalar(text("SELECT SUM(spent) FROM campaigns"))
        stopped = await session.scalar(
            text("SELECT count(*) FROM campaigns WHERE status = 'BUDGET_EXHAUSTED' "
                 "AND stop_reason = 'BUSINESS_CENTER_BALANCE_EXHAUSTED'")
        )  # fmt: skip
    assert (spent, stopped) == (123456, 20)


async def test_spend_racing_a_budget_cut_never_passes_the_cap(api, users, sessions) -> None:
    shop = await open_center(api, users, ["0.00"])
    await unlimited(api, shop)
    await users.fund(shop.center.wallet_id, "1000.00")
    campaign_id = (await live_campaigns(api, shop))[0]
    account_id = shop.accounts[0].id

    async def spend(n: int) -> dict:
        events = [spend_event(f"cut-{n}-{i}", campaign_id, "1.00") for i in range(10)]
        return await record_spend(api, events, shop.adserver.token)

    results = await asyncio.gather(
        *(spend(n) for n in range(20)),
        set_budget(api, account_id, shop.token, "MONTHLY", "150.00"),
    )

    capped = results[-1]
    accepted = await _accepted_cents(sessions)
    if capped["__typename"] == "SetAdAccountBudgetSuccess":
        # the cap took when at most 150.00 was spent; nothing passed it after
        assert accepted <= 15000
    else:  # the cut came after more than 150.00 was spent
        assert capped["__typename"] == "BudgetBelowMinimumError"
    state = await account_state(api, account_id, shop.token)
    assert _cents(state["budget"]["spentInPeriod"]["amount"]) == accepted
    left = await balance(api, shop.center.wallet_id, shop.token)
    assert _cents(left["cash"]["amount"]) == 100000 - accepted


async def test_spend_racing_a_paid_top_up_draws_each_cent_once(
    api, users, webhooks, sessions
) -> None:
    shop = await open_center(api, users, ["100.00"])
    await unlimited(api, shop)
    campaign_id = (await live_campaigns(api, shop))[0]
    asked = await top_up(api, shop.center.wallet_id, shop.token, amount="200.00")

    async def spend(n: int) -> dict:
        events = [spend_event(f"race-{n}-{i}", campaign_id, "5.00") for i in range(10)]
        return await record_spend(api, events, shop.adserver.token)

    await asyncio.gather(
        *(spend(n) for n in range(8)),
        webhooks.pay(asked["topUp"]["invoice"]["paymentReference"]),
    )

    accepted = await _accepted_cents(sessions)
    left = await balance(api, shop.center.wallet_id, shop.token)
    assert _cents(left["cash"]["amount"]) == 30000 - accepted
    assert accepted >= 10000  # the first 100.00 was there from the start


async def test_spend_racing_the_switch_itself(api, users, sessions) -> None:
    # given a center about to switch, one account already MONTHLY_INVOICING with a draft
    shop = await open_center(api, users, ["50.00"], enable=False)
    created = await create_campaign(api, shop.accounts[0], shop.token, "100.00")
    assert created["__typename"] == "InvalidInputError"  # no campaigns before the switch

    switched, *_ = await asyncio.gather(
        enable_allocation(api, shop.center.id, shop.token),
        set_budget(api, shop.accounts[0].id, shop.token, "DAILY", "20.00"),
    )

    # then whichever came first, the switch moved the cash once and the account ends with
    # the cap its finance team set (Budget Sync keeps a cap; a cap set after it replaces it)
    assert switched["__typename"] == "EnableAutomaticAllocationSuccess"
    left = await balance(api, shop.center.wallet_id, shop.token)
    assert left["cash"]["amount"] == "50.00"
    state = await account_state(api, shop.accounts[0].id, shop.token)
    assert (state["budget"]["mode"], state["budget"]["amount"]) == ("DAILY", {"amount": "20.00"})


async def test_an_account_created_while_switching_never_lands_unseen(api, users) -> None:
    # given a center about to switch, and a PREPAID account being created at the same time
    from tests.helpers import CREATE_ACCOUNT

    shop = await open_center(api, users, ["10.00"], enable=False)
    given = {"businessCenterId": shop.center.id, "name": "Late", "billingOption": "PREPAID"}

    switched, created = await asyncio.gather(
        enable_allocation(api, shop.center.id, shop.token),
        api.data(CREATE_ACCOUNT, {"input": given}, shop.token),
    )

    # then either the account came first and blocked the switch, or the switch came first
    # and the account was refused: never an automatic center with a PREPAID account
    created = created["createAdAccount"]
    if switched["__typename"] == "EnableAutomaticAllocationSuccess":
        assert created["__typename"] == "InvalidInputError"
    else:
        assert switched["__typename"] == "AllocationNotEligibleError"
        assert created["__typename"] == "CreateAdAccountSuccess"
