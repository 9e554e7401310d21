"""Automatic balance allocation (DESIGN §7): the switch with Budget Sync, who may make it,
spend drawn bucket by bucket, campaigns stopped when the center runs dry and restarted
when money arrives."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from adledger import clock
from tests.api.allocation_fixtures import (
    account_state,
    campaign_state,
    enable_allocation,
    live_campaigns,
    open_center,
    set_budget,
    unlimited,
)
from tests.api.campaign_fixtures import transactions
from tests.helpers import (
    add_member,
    balance,
    create_account,
    create_campaign,
    launch,
    record_spend,
    spend_event,
    top_up,
)

GRANT = """
mutation($input: GrantVouchersInput!) { grantVouchers(input: $input) { __typename ... on UserError { code message } } }"""
CREDIT_LINE = """
mutation($input: SetCreditLineInput!) { setCreditLine(input: $input) { __typename ... on UserError { code message } } }"""
TRANSFER = """
mutation($input: TransferBalanceInput!) {
  transferBalance(input: $input) { __typename ... on UserError { code message field } }
}"""


async def _grant(api, users, wallet_id: str, amount: str) -> None:
    staff = await users.create("staff", staff=True)
    money = {"amount": amount, "currencyCode": "USD"}
    given = {"walletId": wallet_id, "amount": money, "reason": "test credits"}
    result = (await api.data(GRANT, {"input": given}, staff.token))["grantVouchers"]
    assert result["__typename"] == "GrantVouchersSuccess", result


async def _credit_line(api, users, center_id: str, limit: str) -> None:
    staff = await users.create("staff", staff=True)
    money = {"amount": limit, "currencyCode": "USD"}
    given = {"businessCenterId": center_id, "limit": money, "cycle": "CALENDAR_MONTH"}
    result = (await api.data(CREDIT_LINE, {"input": given}, staff.token))["setCreditLine"]
    assert result["__typename"] == "SetCreditLineSuccess", result


# -- the switch ---------------------------------------------------------------------------


async def test_budget_sync_moves_the_cash_and_caps_an_unlimited_account_the_seeds_example(
    api, users
) -> None:
    # given an account with 100.00 and no budget, and one with 40.00 and a 500.00 budget
    shop = await open_center(api, users, ["100.00", "40.00"], enable=False)
    capped = await set_budget(api, shop.accounts[1].id, shop.token, "MONTHLY", "500.00")
    assert capped["__typename"] == "SetAdAccountBudgetSuccess", capped
    center_before = await balance(api, shop.center.wallet_id, shop.token)

    # when
    result = await enable_allocation(api, shop.center.id, shop.token)

    # then
    assert result["businessCenter"]["allocationMode"] == "AUTOMATIC"
    assert result["businessCenter"]["allocationModeChangedAt"] is not None
    assert result["budgetSyncs"] == [
        {"adAccount": {"id": shop.accounts[0].id}, "movedToBusinessCenter": {"amount": "100.00", "currencyCode": "USD"}, "newBudget": {"amount": "100.00"}},
        {"adAccount": {"id": shop.accounts[1].id}, "movedToBusinessCenter": {"amount": "40.00", "currencyCode": "USD"}, "newBudget": None},
    ]  # fmt: skip
    first = await account_state(api, shop.accounts[0].id, shop.token)
    assert first["wallet"]["balance"]["cash"]["amount"] == "0.00"
    assert first["budget"]["mode"] == "MONTHLY"
    assert first["budget"]["amount"] == {"amount": "100.00"}
    second = await account_state(api, shop.accounts[1].id, shop.token)
    assert second["budget"]["amount"] == {"amount": "500.00"}
    center_after = await balance(api, shop.center.wallet_id, shop.token)
    assert center_before["cash"]["amount"] == "0.00"
    assert center_after["cash"]["amount"] == "140.00"
    kinds = [t["kind"] for t in await transactions(api, shop.center.wallet_id, shop.token)]
    assert kinds[:2] == ["ALLOCATION_IN", "ALLOCATION_IN"]


async def test_vouchers_stay_on_the_account_at_the_switch(api, users) -> None:
    shop = await open_center(api, users, ["10.00"], enable=False)
    await _grant(api, users, shop.accounts[0].wallet_id, "25.00")

    await enable_allocation(api, shop.center.id, shop.token)

    state = await account_state(api, shop.accounts[0].id, shop.token)
    assert state["wallet"]["balance"] == {
        "cash": {"amount": "0.00"},
        "vouchers": {"amount": "25.00"},
    }


async def test_a_center_is_eligible_only_with_monthly_invoicing_auction_accounts(
    api, users
) -> None:
    shop = await open_center(api, users, ["0.00"], enable=False)
    prepaid = await create_account(api, shop.center, "Shop", "PREPAID")
    await users.fund(prepaid.wallet_id, "30.00")

    refused = await enable_allocation(api, shop.center.id, shop.token)

    assert refused["__typename"] == "AllocationNotEligibleError"
    assert refused["code"] == "ALLOCATION_NOT_ELIGIBLE"
    assert len(refused["blockers"]) == 1
    assert refused["blockers"][0].startswith("Shop (ad account ")
    assert "billing option is PREPAID, not MONTHLY_INVOICING" in refused["blockers"][0]
    assert (await balance(api, prepaid.wallet_id, shop.token))["cash"]["amount"] == "30.00"
    state = await api.data("query($id: ID!) { businessCenter(id: $id) { allocationMode } }", {"id": shop.center.id}, shop.token)  # fmt: skip
    assert state["businessCenter"]["allocationMode"] == "MANUAL"


async def test_a_second_switch_is_irreversible(api, users) -> None:
    shop = await open_center(api, users, ["10.00"])

    again = await enable_allocation(api, shop.center.id, shop.token)

    assert again["__typename"] == "AllocationModeIrreversibleError"
    assert again["code"] == "ALLOCATION_MODE_IRREVERSIBLE"


async def test_two_clients_switching_at_once_make_one_switch_and_one_budget_sync(
    api, users, sessions
) -> None:
    shop = await open_center(api, users, ["100.00", "50.00"], enable=False)

    results = await asyncio.gather(
        *(enable_allocation(api, shop.center.id, shop.token) for _ in range(4))
    )

    kinds = sorted(r["__typename"] for r in results)
    assert kinds == ["AllocationModeIrreversibleError"] * 3 + ["EnableAutomaticAllocationSuccess"]
    async with sessions() as session:
        changes = await session.scalar(text("SELECT count(*) FROM ad_account_budget_changes"))
        moves = await session.scalar(
            text("SELECT count(*) FROM ledger_entries WHERE operation = 'automatic_allocation'")
        )
    assert (changes, moves) == (2, 2)
    assert (await balance(api, shop.center.wallet_id, shop.token))["cash"]["amount"] == "150.00"


async def test_finance_analysts_and_standard_members_change_nothing(api, users) -> None:
    shop = await open_center(api, users, ["100.00"], enable=False)
    analyst, standard = await users.create("analyst"), await users.create("standard")
    await add_member(api, shop.center, analyst, "FINANCE_ANALYST")
    await add_member(api, shop.center, standard, "STANDARD")
    stranger = await users.create("stranger")

    for token in (analyst.token, standard.token):
        switched = await enable_allocation(api, shop.center.id, token)
        capped = await set_budget(api, shop.accounts[0].id, token, "DAILY", "5.00")
        assert (switched["code"], capped["code"]) == ("FORBIDDEN", "FORBIDDEN")
    foreign = await enable_allocation(api, shop.center.id, stranger.token)
    foreign_cap = await set_budget(api, shop.accounts[0].id, stranger.token, "DAILY", "5.00")
    assert (foreign["code"], foreign_cap["code"]) == ("NOT_FOUND", "NOT_FOUND")
    state = await account_state(api, shop.accounts[0].id, shop.token)
    assert state["budget"]["mode"] == "UNLIMITED"
    assert state["wallet"]["balance"]["cash"]["amount"] == "100.00"


async def test_read_only_roles_change_no_money_of_an_automatic_center(api, users, sessions) -> None:
    shop = await open_center(api, users, ["100.00"])
    await _grant(api, users, shop.center.wallet_id, "20.00")
    analyst, standard = await users.create("analyst"), await users.create("standard")
    await add_member(api, shop.center, analyst, "FINANCE_ANALYST")
    await add_member(api, shop.center, standard, "STANDARD")
    vouchers = {"amount": "5.00", "currencyCode": "USD"}
    move = {"fromWalletId": shop.center.wallet_id, "toWalletId": shop.accounts[0].wallet_id, "amount": vouchers, "bucket": "VOUCHERS"}  # fmt: skip
    async with sessions() as session:
        entries = await session.scalar(text("SELECT count(*) FROM ledger_entries"))

    for member in (analyst, standard):
        moved = (await api.data(TRANSFER, {"input": move}, member.token))["transferBalance"]
        asked = await top_up(api, shop.center.wallet_id, member.token, amount="50.00")
        switched = await enable_allocation(api, shop.center.id, member.token)
        capped = await set_budget(api, shop.accounts[0].id, member.token, "UNLIMITED")
        assert [moved["code"], asked["code"], switched["code"], capped["code"]] == ["FORBIDDEN"] * 4

    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM ledger_entries")) == entries
        assert await session.scalar(text("SELECT count(*) FROM top_ups")) == 0
    assert (await account_state(api, shop.accounts[0].id, shop.token))["budget"][
        "mode"
    ] == "MONTHLY"


async def test_a_finance_manager_may_switch(api, users) -> None:
    shop = await open_center(api, users, ["10.00"], enable=False)
    manager = await users.create("manager")
    await add_member(api, shop.center, manager, "FINANCE_MANAGER")

    result = await enable_allocation(api, shop.center.id, manager.token)

    assert result["__typename"] == "EnableAutomaticAllocationSuccess"


async def test_under_automatic_allocation_cash_is_not_transferred_but_vouchers_are(
    api, users
) -> None:
    shop = await open_center(api, users, ["0.00"])
    await users.fund(shop.center.wallet_id, "50.00")
    await _grant(api, users, shop.center.wallet_id, "20.00")
    money = {"amount": "10.00", "currencyCode": "USD"}
    move = {"fromWalletId": shop.center.wallet_id, "toWalletId": shop.accounts[0].wallet_id, "amount": money}  # fmt: skip

    cash = (await api.data(TRANSFER, {"input": move}, shop.token))["transferBalance"]
    vouchers = (await api.data(TRANSFER, {"input": {**move, "bucket": "VOUCHERS"}}, shop.token))["transferBalance"]  # fmt: skip

    assert cash["code"] == "INVALID_STATE"
    assert vouchers["__typename"] == "TransferBalanceSuccess"
    state = await account_state(api, shop.accounts[0].id, shop.token)
    assert state["wallet"]["balance"] == {
        "cash": {"amount": "0.00"},
        "vouchers": {"amount": "10.00"},
    }


async def test_new_accounts_of_an_automatic_center_are_monthly_invoicing_auction(
    api, users
) -> None:
    shop = await open_center(api, users, ["0.00"])
    query = """mutation($input: CreateAdAccountInput!) { createAdAccount(input: $input) { __typename ... on UserError { code field } } }"""
    given = {"businessCenterId": shop.center.id, "name": "Late", "billingOption": "PREPAID"}

    result = (await api.data(query, {"input": given}, shop.token))["createAdAccount"]

    assert result == {"__typename": "InvalidInputError", "code": "INVALID_INPUT", "field": ["input", "billingOption"]}  # fmt: skip


# -- campaigns drawing on the center ------------------------------------------------------


async def test_a_launch_under_automatic_allocation_reserves_nothing(api, users) -> None:
    shop = await open_center(api, users, ["100.00"])
    await unlimited(api, shop)

    campaign_id = (await live_campaigns(api, shop, "500.00"))[0]

    state = await campaign_state(api, campaign_id, shop.token)
    assert state == {"status": "ACTIVE", "stopReason": None, "stopReasonCode": None, "paymentPlan": "BUSINESS_CENTER_BALANCE", "spent": {"amount": "0.00"}, "funded": {"amount": "0.00"}}  # fmt: skip
    assert (await balance(api, shop.center.wallet_id, shop.token))["cash"]["amount"] == "100.00"


async def test_a_credit_balance_campaign_is_refused_under_automatic_allocation(api, users) -> None:
    shop = await open_center(api, users, ["0.00"])
    query = """mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { __typename ... on UserError { code field } } }"""
    from tests.helpers import flight

    starts, ends = flight(10)
    given = {"adAccountId": shop.accounts[0].id, "name": "X", "budget": {"amount": "100.00", "currencyCode": "USD"}, "startsAt": starts, "endsAt": ends, "paymentPlan": "CREDIT_BALANCE"}  # fmt: skip

    result = (await api.data(query, {"input": given}, shop.token))["createCampaign"]

    assert result == {"__typename": "InvalidInputError", "code": "INVALID_INPUT", "field": ["input", "paymentPlan"]}  # fmt: skip


async def test_spend_draws_account_cash_then_vouchers_then_center_cash_then_credit_line(
    api, users
) -> None:
    # given: account cash 10, account vouchers 20, center cash 30, center vouchers 50
    # (never drawn), and a 40.00 credit line
    shop = await open_center(api, users, ["0.00"])
    await unlimited(api, shop)
    account = shop.accounts[0]
    await users.fund(account.wallet_id, "10.00")
    await _grant(api, users, account.wallet_id, "20.00")
    await users.fund(shop.center.wallet_id, "30.00")
    await _grant(api, users, shop.center.wallet_id, "50.00")
    await _credit_line(api, users, shop.center.id, "40.00")
    campaign_id = (await live_campaigns(api, shop))[0]

    # when: one event asks for 105.00, another for 45.00
    result = await record_spend(
        api,
        [spend_event("d1", campaign_id, "105.00"), spend_event("d2", campaign_id, "45.00")],
        shop.adserver.token,
    )

    # then: 100.00 drawn, bucket by bucket, the rest refused for lack of funds
    assert result["accepted"] == 1
    assert result["refused"] == [
        {"eventId": "d1", "amount": {"amount": "5.00", "currencyCode": "USD"}, "reason": "INSUFFICIENT_FUNDS"},
        {"eventId": "d2", "amount": {"amount": "45.00", "currencyCode": "USD"}, "reason": "INSUFFICIENT_FUNDS"},
    ]  # fmt: skip
    assert result["stoppedCampaigns"] == [{"id": campaign_id, "status": "BUDGET_EXHAUSTED"}]
    own = [
        t for t in await transactions(api, account.wallet_id, shop.token) if t["kind"] == "SPEND"
    ]
    center = [t for t in await transactions(api, shop.center.wallet_id, shop.token) if t["kind"] == "SPEND"]  # fmt: skip
    spent = sorted((t["bucket"], t["amount"]["amount"]) for t in own + center)
    assert spent == [("CASH", "-10.00"), ("CASH", "-30.00"), ("CREDIT_LINE", "-40.00"), ("VOUCHERS", "-20.00")]  # fmt: skip
    assert {t["campaign"]["id"] for t in own + center} == {campaign_id}
    center_balance = await balance(api, shop.center.wallet_id, shop.token)
    assert center_balance["vouchers"]["amount"] == "50.00"
    assert center_balance["creditLineUsed"]["amount"] == "40.00"
    state = await campaign_state(api, campaign_id, shop.token)
    assert (state["status"], state["stopReason"]) == ("BUDGET_EXHAUSTED", "business center balance exhausted")  # fmt: skip
    assert (state["spent"], state["funded"]) == ({"amount": "100.00"}, {"amount": "100.00"})


async def test_the_campaign_budget_still_stops_a_drawn_campaign(api, users) -> None:
    shop = await open_center(api, users, ["500.00"])
    await unlimited(api, shop)
    campaign_id = (await live_campaigns(api, shop, "60.00"))[0]

    result = await record_spend(api, [spend_event("b1", campaign_id, "75.00")], shop.adserver.token)

    assert result["refused"][0]["reason"] == "OVER_BUDGET"
    assert result["refused"][0]["amount"]["amount"] == "15.00"
    state = await campaign_state(api, campaign_id, shop.token)
    assert (state["status"], state["stopReason"]) == ("BUDGET_EXHAUSTED", "campaign budget reached")
    assert (await balance(api, shop.center.wallet_id, shop.token))["cash"]["amount"] == "440.00"


async def test_an_empty_center_stops_every_campaign_and_a_paid_top_up_restarts_them(
    api, users, webhooks
) -> None:
    # given two accounts with live campaigns on a center holding 50.00
    shop = await open_center(api, users, ["50.00", "0.00"])
    await unlimited(api, shop)
    first, second = await live_campaigns(api, shop)

    # when the first campaign's spend empties the center
    delivering = clock.now().isoformat()
    spent = await record_spend(api, [spend_event("z1", first, "50.00")], shop.adserver.token)

    # then both stop, for the center's balance
    assert sorted(c["id"] for c in spent["stoppedCampaigns"]) == sorted([first, second])
    for campaign_id in (first, second):
        state = await campaign_state(api, campaign_id, shop.token)
        assert (state["status"], state["stopReasonCode"]) == ("BUDGET_EXHAUSTED", "BUSINESS_CENTER_BALANCE_EXHAUSTED")  # fmt: skip
    # and a late report for before the stop finds no money (one after it: not delivering)
    late = spend_event("z2", second, "1.00", occurred_at=delivering)
    refused = await record_spend(api, [late], shop.adserver.token)
    assert refused["refused"][0]["reason"] == "INSUFFICIENT_FUNDS"

    # when a top-up of the center is paid, they deliver again
    asked = await top_up(api, shop.center.wallet_id, shop.token, amount="80.00")
    await webhooks.pay(asked["topUp"]["invoice"]["paymentReference"])
    for campaign_id in (first, second):
        state = await campaign_state(api, campaign_id, shop.token)
        assert (state["status"], state["stopReason"]) == ("ACTIVE", None)
    again = await record_spend(api, [spend_event("z3", second, "30.00")], shop.adserver.token)
    assert (again["accepted"], again["refused"]) == (1, [])
    assert (await balance(api, shop.center.wallet_id, shop.token))["cash"]["amount"] == "50.00"


async def test_an_unpaid_top_up_restarts_nothing(api, users) -> None:
    shop = await open_center(api, users, ["20.00"])
    await unlimited(api, shop)
    campaign_id = (await live_campaigns(api, shop))[0]
    await record_spend(api, [spend_event("u1", campaign_id, "20.00")], shop.adserver.token)

    await top_up(api, shop.center.wallet_id, shop.token, amount="80.00")

    state = await campaign_state(api, campaign_id, shop.token)
    assert state["status"] == "BUDGET_EXHAUSTED"


async def test_a_raised_credit_line_or_vouchers_allocated_to_an_account_restart_campaigns(
    api, users
) -> None:
    shop = await open_center(api, users, ["20.00", "0.00"])
    await unlimited(api, shop)
    first, second = await live_campaigns(api, shop)
    await record_spend(api, [spend_event("r1", first, "20.00")], shop.adserver.token)
    assert (await campaign_state(api, second, shop.token))["status"] == "BUDGET_EXHAUSTED"

    # vouchers granted to the second account restart only what can draw on them
    await _grant(api, users, shop.accounts[1].wallet_id, "5.00")
    assert (await campaign_state(api, first, shop.token))["status"] == "BUDGET_EXHAUSTED"
    assert (await campaign_state(api, second, shop.token))["status"] == "ACTIVE"

    # a credit line on the center restarts the rest
    await _credit_line(api, users, shop.center.id, "100.00")
    assert (await campaign_state(api, first, shop.token))["status"] == "ACTIVE"
    drawn = await record_spend(api, [spend_event("r2", first, "30.00")], shop.adserver.token)
    assert drawn["refused"] == []
    assert (await balance(api, shop.center.wallet_id, shop.token))["creditLineUsed"]["amount"] == "30.00"  # fmt: skip


async def test_vouchers_granted_to_the_center_are_not_drawn_and_restart_nothing(api, users) -> None:
    shop = await open_center(api, users, ["10.00"])
    await unlimited(api, shop)
    campaign_id = (await live_campaigns(api, shop))[0]
    delivering = clock.now().isoformat()
    await record_spend(api, [spend_event("v1", campaign_id, "10.00")], shop.adserver.token)

    await _grant(api, users, shop.center.wallet_id, "500.00")
    late = spend_event("v2", campaign_id, "1.00", occurred_at=delivering)  # before the stop
    result = await record_spend(api, [late], shop.adserver.token)

    assert (await campaign_state(api, campaign_id, shop.token))["status"] == "BUDGET_EXHAUSTED"
    assert result["refused"][0]["reason"] == "INSUFFICIENT_FUNDS"


async def test_available_to_spend_counts_what_the_mode_lets_the_account_draw(api, users) -> None:
    shop = await open_center(api, users, ["100.00", "0.00"])
    await _grant(api, users, shop.accounts[1].wallet_id, "7.00")
    await _credit_line(api, users, shop.center.id, "50.00")

    capped = await account_state(api, shop.accounts[0].id, shop.token)
    second = await account_state(api, shop.accounts[1].id, shop.token)

    # the first is capped by Budget Sync at 100.00; the second's cap is 0.00 (it moved nothing)
    assert capped["availableToSpend"] == {"amount": "100.00"}
    assert second["availableToSpend"] == {"amount": "0.00"}
    await set_budget(api, shop.accounts[1].id, shop.token, "UNLIMITED")
    second = await account_state(api, shop.accounts[1].id, shop.token)
    assert second["availableToSpend"] == {"amount": "157.00"}


async def test_a_launch_needs_no_money_and_drawn_campaigns_cancel_cleanly(api, users) -> None:
    shop = await open_center(api, users, ["0.00"])
    created = await create_campaign(api, shop.accounts[0], shop.token, "80.00")
    campaign_id = created["campaign"]["id"]

    launched = await launch(api, campaign_id, shop.token)
    query = """mutation($input: CampaignActionInput!) { cancelCampaign(input: $input) { __typename ... on CampaignActionSuccess { campaign { status credited { amount } } } } }"""
    canceled = (await api.data(query, {"input": {"campaignId": campaign_id}}, shop.token))["cancelCampaign"]  # fmt: skip

    assert launched["campaign"]["status"] == "ACTIVE"
    assert launched["shortfallInvoice"] is None
    assert canceled["campaign"] == {"status": "CANCELED", "credited": {"amount": "0.00"}}
