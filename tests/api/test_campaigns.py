"""The seed's campaign rules as scenarios over GraphQL (DESIGN §6): launch, shortfall,
budget changes, and the credits after a campaign ends."""

from __future__ import annotations

from datetime import timedelta

from adledger import clock
from adledger.jobs.billing import issue_pending_invoices_job
from adledger.jobs.campaigns import complete_campaigns_job, credit_sweep_job, start_campaigns_job
from adledger.jobs.reports import CampaignReport
from tests.api.campaign_fixtures import move_flight, open_shop, transactions
from tests.helpers import (
    balance,
    campaign,
    campaign_action,
    create_campaign,
    launch,
    new_campaign,
    record_spend,
    spend_event,
    top_up,
    update_budget,
)


async def test_launch_with_enough_funds_takes_the_whole_budget_vouchers_first(api, users) -> None:
    # given an account with 300.00 in vouchers and 900.00 cash
    shop = await open_shop(api, users, cash="900.00")
    staff = await users.create("staff", staff=True)
    grant = (
        """mutation($input: GrantVouchersInput!) { grantVouchers(input: $input) { __typename } }"""
    )
    voucher = {"amount": "300.00", "currencyCode": "USD"}
    await api.data(
        grant, {"input": {"walletId": shop.account.wallet_id, "amount": voucher, "reason": "promo"}},
        staff.token,
    )  # fmt: skip
    campaign_id = await new_campaign(api, shop.account, shop.token, "1000.00")

    # when it launches
    result = await launch(api, campaign_id, shop.token)

    # then the budget sits in the campaign: 300.00 vouchers first, then 700.00 cash
    assert result["__typename"] == "LaunchCampaignSuccess"
    assert result["shortfallInvoice"] is None
    launched = result["campaign"]
    assert (launched["status"], launched["funded"]["amount"]) == ("ACTIVE", "1000.00")
    assert launched["launchedAt"] is not None
    left = await balance(api, shop.account.wallet_id, shop.token)
    assert (left["cash"]["amount"], left["vouchers"]["amount"]) == ("200.00", "0.00")
    moves = [t for t in await transactions(api, shop.account.wallet_id, shop.token)]
    launches = [t for t in moves if t["kind"] == "CAMPAIGN_LAUNCH"]
    assert sorted((t["bucket"], t["amount"]["amount"]) for t in launches) == [
        ("CASH", "-700.00"),
        ("VOUCHERS", "-300.00"),
    ]
    assert {t["campaign"]["id"] for t in launches} == {campaign_id}


async def test_a_campaign_starting_later_is_scheduled_then_started_by_the_job(
    api, users, jobs
) -> None:
    shop = await open_shop(api, users, cash="500.00")
    created = await create_campaign(api, shop.account, shop.token, "500.00", starts_in_days=2)
    campaign_id = created["campaign"]["id"]

    launched = await launch(api, campaign_id, shop.token)

    assert launched["campaign"]["status"] == "SCHEDULED"
    now = clock.now()
    assert await start_campaigns_job(jobs, now) == CampaignReport("start-campaigns")
    report = await start_campaigns_job(jobs, now + timedelta(days=2, minutes=1))
    assert report.steps == {"started": 1}
    assert (await campaign(api, campaign_id, shop.token))["status"] == "ACTIVE"
    again = await start_campaigns_job(jobs, now + timedelta(days=2, minutes=2))
    assert again.steps == {}


async def test_launch_short_holds_what_the_wallet_has_and_invoices_the_rest_until_paid(
    api, users, sandbox, jobs
) -> None:
    from tests.api.conftest import Webhooks

    # given 250.00 in the wallet and a 1000.00 campaign
    shop = await open_shop(api, users, cash="250.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "1000.00")

    # when it launches
    result = await launch(api, campaign_id, shop.token)

    # then 250.00 is held, a shortfall invoice asks for 750.00, and it waits
    invoice = result["shortfallInvoice"]
    assert result["campaign"]["status"] == "PENDING_FUNDS"
    assert (invoice["kind"], invoice["status"], invoice["amountDue"]["amount"]) == (
        "CAMPAIGN_SHORTFALL",
        "OPEN",
        "750.00",
    )
    assert invoice["paymentReference"] is not None
    held = await balance(api, shop.account.wallet_id, shop.token)
    assert (held["held"]["amount"], held["available"]["amount"]) == ("250.00", "0.00")

    # when the customer pays it (a signed webhook)
    response = await Webhooks(api, sandbox).pay(invoice["paymentReference"])
    assert response.status_code == 200

    # then the campaign is funded in full and delivers
    funded = await campaign(api, campaign_id, shop.token)
    assert (funded["status"], funded["funded"]["amount"]) == ("ACTIVE", "1000.00")
    assert funded["shortfallInvoice"] is None
    after = await balance(api, shop.account.wallet_id, shop.token)
    assert (after["cash"]["amount"], after["held"]["amount"]) == ("0.00", "0.00")
    kinds = {i["node"]["kind"]: i["node"]["status"] for i in funded["invoices"]["edges"]}
    assert kinds == {"CAMPAIGN_SHORTFALL": "PAID"}
    # and nothing is left for the job to void
    report = await issue_pending_invoices_job(jobs, clock.now())
    assert report.voided == 0


async def test_money_arriving_funds_waiting_campaigns_oldest_first_and_voids_their_invoices(
    api, users, sandbox, jobs
) -> None:
    shop = await open_shop(api, users)
    first = await new_campaign(api, shop.account, shop.token, "400.00")
    second = await new_campaign(api, shop.account, shop.token, "300.00")
    invoices = [(await launch(api, c, shop.token))["shortfallInvoice"] for c in (first, second)]

    # when 500.00 arrives: enough for the older one only
    await users.fund(shop.account.wallet_id, "500.00")

    assert (await campaign(api, first, shop.token))["status"] == "ACTIVE"
    assert (await campaign(api, second, shop.token))["status"] == "PENDING_FUNDS"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "100.00"
    # the funded campaign's shortfall invoice is voided here and at the provider
    report = await issue_pending_invoices_job(jobs, clock.now())
    assert report.voided == 1
    voided = await sandbox.retrieve_invoice(invoices[0]["paymentReference"])
    assert voided.status == "void"
    assert (await sandbox.retrieve_invoice(invoices[1]["paymentReference"])).status == "open"


async def test_a_paid_top_up_funds_a_waiting_campaign(api, users, sandbox) -> None:
    from tests.api.conftest import Webhooks

    shop = await open_shop(api, users)
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    topped = await top_up(api, shop.account.wallet_id, shop.token, amount="150.00")

    await Webhooks(api, sandbox).pay(topped["topUp"]["invoice"]["paymentReference"])

    assert (await campaign(api, campaign_id, shop.token))["status"] == "ACTIVE"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "50.00"


async def test_cancel_while_pending_releases_the_hold_and_voids_the_invoice(
    api, users, sandbox
) -> None:
    shop = await open_shop(api, users, cash="250.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "1000.00")
    invoice = (await launch(api, campaign_id, shop.token))["shortfallInvoice"]

    canceled = await campaign_action(api, "cancelCampaign", campaign_id, shop.token)

    assert canceled["campaign"]["status"] == "CANCELED"
    assert canceled["campaign"]["credited"]["amount"] == "250.00"
    after = await balance(api, shop.account.wallet_id, shop.token)
    assert (after["cash"]["amount"], after["held"]["amount"]) == ("250.00", "0.00")
    assert (await sandbox.retrieve_invoice(invoice["paymentReference"])).status == "void"
    found = await campaign(api, campaign_id, shop.token)
    assert found["invoices"]["edges"][0]["node"]["status"] == "VOID"


async def test_budget_reduction_is_credited_at_once(api, users) -> None:
    shop = await open_shop(api, users, cash="1000.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "1000.00")
    await launch(api, campaign_id, shop.token)

    result = await update_budget(api, campaign_id, shop.token, "600.00")

    assert result["__typename"] == "UpdateCampaignBudgetSuccess"
    assert (result["credited"]["amount"], result["charged"]["amount"]) == ("400.00", "0.00")
    assert result["campaign"]["budget"]["amount"] == "600.00"
    moves = await transactions(api, shop.account.wallet_id, shop.token)
    assert moves[0]["kind"] == "BUDGET_REDUCTION_CREDIT"
    assert moves[0]["amount"]["amount"] == "400.00"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "400.00"


async def test_budget_increase_takes_the_difference_or_says_what_is_available(api, users) -> None:
    shop = await open_shop(api, users, cash="1200.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "1000.00")
    await launch(api, campaign_id, shop.token)

    refused = await update_budget(api, campaign_id, shop.token, "1300.00")
    raised = await update_budget(api, campaign_id, shop.token, "1150.00")

    assert refused["__typename"] == "InsufficientFundsError"
    assert refused["available"]["amount"] == "200.00"
    assert raised["charged"]["amount"] == "150.00"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "50.00"


async def test_the_self_service_fix_reduces_a_mistaken_launch_to_its_minimum_budget(
    api, users
) -> None:
    # given a launch with a mistaken budget, 120.00 of it already spent
    shop = await open_shop(api, users, cash="5000.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "5000.00")
    await launch(api, campaign_id, shop.token)
    await record_spend(api, [spend_event("e1", campaign_id, "120.00")], shop.adserver.token)
    minimum = (await campaign(api, campaign_id, shop.token))["minimumBudget"]["amount"]
    assert minimum == "120.00"

    # when the advertiser reduces it below, then to the minimum
    below = await update_budget(api, campaign_id, shop.token, "119.99")
    fixed = await update_budget(api, campaign_id, shop.token, minimum)

    # then below is refused with the minimum, and the minimum returns everything unspent
    assert below["__typename"] == "BudgetBelowMinimumError"
    assert below["minimum"] == {"amount": "120.00", "currencyCode": "USD"}
    assert fixed["credited"]["amount"] == "4880.00"
    assert fixed["campaign"]["status"] == "BUDGET_EXHAUSTED"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "4880.00"


async def test_an_exhausted_campaign_whose_flight_ended_cannot_take_more_budget(
    api, users, jobs, sessions
) -> None:
    # given a campaign that spent its whole budget, ended and was settled
    shop = await open_shop(api, users, cash="500.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "200.00")
    await launch(api, campaign_id, shop.token)
    await record_spend(api, [spend_event("e1", campaign_id, "200.00")], shop.adserver.token)
    ends = clock.now() - timedelta(hours=13)
    await move_flight(sessions, campaign_id, ends - timedelta(days=7), ends)
    await credit_sweep_job(jobs, clock.now())

    # when the advertiser raises its budget
    raised = await update_budget(api, campaign_id, shop.token, "300.00")

    # then nothing moves: no sweep would ever return money taken now
    assert (raised["code"], raised["message"]) == (
        "INVALID_STATE",
        "cannot raise the budget of a campaign that is BUDGET_EXHAUSTED: its flight has ended",
    )
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "300.00"


async def test_under_delivery_is_credited_after_the_settlement_window(
    api, users, jobs, sessions
) -> None:
    # given a campaign that spent 300.00 of 1000.00 and ended at `ends`
    shop = await open_shop(api, users, cash="1000.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "1000.00")
    await launch(api, campaign_id, shop.token)
    await record_spend(api, [spend_event("e1", campaign_id, "300.00")], shop.adserver.token)
    ends = clock.now() - timedelta(hours=1)
    await move_flight(sessions, campaign_id, ends - timedelta(days=7), ends)

    # when the jobs run: completion at once, the sweep only after the 12 h window
    completed = await complete_campaigns_job(jobs, clock.now())
    early = await credit_sweep_job(jobs, ends + timedelta(hours=11))
    swept = await credit_sweep_job(jobs, ends + timedelta(hours=12))
    again = await credit_sweep_job(jobs, ends + timedelta(hours=13))

    # then 700.00 returns once, as UNDERDELIVERY_CREDIT
    assert completed.steps == {"completed": 1}
    assert (early.steps, swept.steps, again.steps) == ({}, {"credited": 1}, {})
    settled = await campaign(api, campaign_id, shop.token)
    assert (settled["status"], settled["credited"]["amount"]) == ("COMPLETED", "700.00")
    assert settled["settledAt"] is not None
    moves = await transactions(api, shop.account.wallet_id, shop.token)
    assert (moves[0]["kind"], moves[0]["amount"]["amount"]) == ("UNDERDELIVERY_CREDIT", "700.00")


async def test_a_campaign_paused_at_its_end_is_credited_as_paused(
    api, users, jobs, sessions
) -> None:
    shop = await open_shop(api, users, cash="500.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "500.00")
    await launch(api, campaign_id, shop.token)
    await record_spend(api, [spend_event("e1", campaign_id, "100.00")], shop.adserver.token)
    await campaign_action(api, "pauseCampaign", campaign_id, shop.token)
    ends = clock.now() + timedelta(minutes=1)
    await move_flight(sessions, campaign_id, ends - timedelta(days=3), ends)

    await credit_sweep_job(jobs, ends + timedelta(hours=12))

    moves = await transactions(api, shop.account.wallet_id, shop.token)
    assert (moves[0]["kind"], moves[0]["amount"]["amount"]) == ("PAUSED_CAMPAIGN_CREDIT", "400.00")
    assert (await campaign(api, campaign_id, shop.token))["status"] == "COMPLETED"


async def test_a_rest_of_one_unit_or_less_is_forfeited_visibly(api, users, jobs, sessions) -> None:
    shop = await open_shop(api, users, cash="1000.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "1000.00")
    await launch(api, campaign_id, shop.token)
    await record_spend(api, [spend_event("e1", campaign_id, "999.00")], shop.adserver.token)
    ends = clock.now() - timedelta(hours=13)
    await move_flight(sessions, campaign_id, ends - timedelta(days=1), ends)

    report = await credit_sweep_job(jobs, clock.now())

    assert report.steps == {"forfeited": 1}
    settled = await campaign(api, campaign_id, shop.token)
    assert (settled["forfeited"]["amount"], settled["credited"]["amount"]) == ("1.00", "0.00")
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "0.00"


async def test_rejection_by_staff_returns_the_reserve_and_records_the_reason(api, users) -> None:
    shop = await open_shop(api, users, cash="800.00")
    staff = await users.create("staff", staff=True)
    campaign_id = await new_campaign(api, shop.account, shop.token, "800.00")
    await launch(api, campaign_id, shop.token)

    by_owner = await campaign_action(api, "rejectCampaign", campaign_id, shop.token, "x")
    no_reason = await campaign_action(api, "rejectCampaign", campaign_id, staff.token)
    rejected = await campaign_action(api, "rejectCampaign", campaign_id, staff.token, "creative")

    assert by_owner["code"] == "FORBIDDEN"
    assert (no_reason["code"], no_reason["field"]) == ("INVALID_INPUT", ["input", "reason"])
    assert rejected["campaign"]["status"] == "REJECTED"
    moves = await transactions(api, shop.account.wallet_id, shop.token)
    assert (moves[0]["kind"], moves[0]["amount"]["amount"]) == ("CANCELLATION_CREDIT", "800.00")


async def test_pause_resume_and_the_states_that_refuse_them(api, users, jobs, sessions) -> None:
    shop = await open_shop(api, users, cash="500.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "500.00")
    await launch(api, campaign_id, shop.token)

    paused = await campaign_action(api, "pauseCampaign", campaign_id, shop.token)
    resumed = await campaign_action(api, "resumeCampaign", campaign_id, shop.token)
    ends = clock.now() - timedelta(minutes=1)
    await move_flight(sessions, campaign_id, ends - timedelta(days=1), ends)
    await complete_campaigns_job(jobs, clock.now())
    late = await campaign_action(api, "resumeCampaign", campaign_id, shop.token)

    assert (paused["campaign"]["status"], resumed["campaign"]["status"]) == ("PAUSED", "ACTIVE")
    assert late["code"] == "INVALID_STATE"
    assert "COMPLETED" in late["message"]
