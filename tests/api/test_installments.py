"""Campaigns paid by card (DESIGN §8, the Adomni page): the plan made at launch, the first
invoice charged at once, the rest issued and charged by issue-invoices on their dates,
declined charges retried then the campaign paused, early cancellation and the end of a
plan billing exactly what was delivered."""

from __future__ import annotations

from datetime import datetime, timedelta

from adledger.jobs.installments import issue_invoices_job
from tests.api.campaign_fixtures import open_shop
from tests.api.installment_fixtures import (
    attach_card,
    card_campaign,
    card_shop,
    days_from_now,
    launch,
    plan_of,
)
from tests.helpers import balance, campaign_action, record_spend, spend_event, update_budget


def _amounts(plan: dict) -> list[tuple[str, str]]:
    return [(i["status"], i["amountDue"]["amount"]) for i in plan["invoices"]]


async def _spend(api, shop, campaign_id: str, amount: str, event_id: str) -> dict:
    return await record_spend(
        api, [spend_event(event_id, campaign_id, amount)], shop.adserver.token
    )


# -- launch ------------------------------------------------------------------------------


async def test_launching_by_card_without_a_card_is_refused_and_changes_nothing(
    api, users, sessions
) -> None:
    shop = await open_shop(api, users)
    campaign_id = await card_campaign(api, shop)

    refused = await launch(api, shop, campaign_id)

    assert refused["__typename"] == "InvalidStateError"
    assert "card" in refused["message"] and "createCardSetup" in refused["message"]
    plan = await plan_of(api, shop, campaign_id)
    assert (plan["status"], plan["invoices"]) == ("DRAFT", [])


async def test_the_plan_is_made_at_launch_and_the_first_installment_is_charged(
    api, users, webhooks
) -> None:
    # given a center with a card and a 1,000.00 campaign over 30 days (every 14 days: 3)
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop, budget="1000.00", days=30)
    # when it is launched
    launched = await launch(api, shop, campaign_id)
    # then the first invoice is paid at once, the others are scheduled 14 days apart
    assert launched["__typename"] == "LaunchCampaignSuccess", launched
    plan = await plan_of(api, shop, campaign_id)
    assert _amounts(plan) == [("PAID", "333.33"), ("SCHEDULED", "333.33"), ("SCHEDULED", "333.34")]
    assert [(i["installmentNumber"], i["installmentCount"]) for i in plan["invoices"]] == [
        (1, 3),
        (2, 3),
        (3, 3),
    ]
    dates = [datetime.fromisoformat(i["issueOn"]) for i in plan["invoices"]]
    assert dates[2] - dates[1] == timedelta(days=14)
    # and the campaign delivers, funded by what was paid
    assert (plan["status"], plan["funded"]["amount"]) == ("ACTIVE", "333.33")
    assert all(i["kind"] == "INSTALLMENT" for i in plan["invoices"])


async def test_prepay_and_a_small_price_are_one_invoice(api, users, webhooks) -> None:
    shop = await card_shop(api, users, webhooks)
    prepaid = await card_campaign(api, shop, budget="1000.00", plan="PREPAY")
    small = await card_campaign(api, shop, budget="249.99", days=60)

    await launch(api, shop, prepaid)
    await launch(api, shop, small)

    assert _amounts(await plan_of(api, shop, prepaid)) == [("PAID", "1000.00")]
    assert _amounts(await plan_of(api, shop, small)) == [("PAID", "249.99")]


async def test_spend_may_run_ahead_of_payments_up_to_the_price(api, users, webhooks) -> None:
    # given a plan with 333.33 paid of 1,000.00
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop)
    await launch(api, shop, campaign_id)
    # when the ad server reports more than was paid, then more than the price
    ahead = await _spend(api, shop, campaign_id, "900.00", "e1")
    beyond = await _spend(api, shop, campaign_id, "200.00", "e2")
    # then spend reaches the price and no further
    assert (ahead["accepted"], ahead["refused"]) == (1, [])
    assert beyond["refused"][0]["amount"]["amount"] == "100.00"
    plan = await plan_of(api, shop, campaign_id)
    assert (plan["spent"]["amount"], plan["status"]) == ("1000.00", "BUDGET_EXHAUSTED")


async def test_the_price_of_a_launched_card_campaign_is_fixed(api, users, webhooks) -> None:
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop)
    await launch(api, shop, campaign_id)

    changed = await update_budget(api, campaign_id, shop.token, "2000.00")

    assert changed["code"] == "INVALID_STATE"
    assert (await plan_of(api, shop, campaign_id))["budget"]["amount"] == "1000.00"


# -- issue-invoices ----------------------------------------------------------------------


async def test_issue_invoices_charges_each_installment_on_its_date(
    api, users, webhooks, jobs
) -> None:
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop)
    await launch(api, shop, campaign_id)
    await _spend(api, shop, campaign_id, "400.00", "e1")  # delivery keeps ahead of payments

    early = await issue_invoices_job(jobs, days_from_now(13.9))
    second = await issue_invoices_job(jobs, days_from_now(14.1))
    again = await issue_invoices_job(jobs, days_from_now(14.2))
    await _spend(api, shop, campaign_id, "300.00", "e2")  # still ahead of 666.66 paid
    third = await issue_invoices_job(jobs, days_from_now(28.1))

    assert str(early) == "no invoices due"
    assert (second.outcomes.get("issued"), second.outcomes.get("paid")) == (1, 1)
    assert str(again) == "no invoices due"
    assert third.outcomes.get("paid") == 1
    plan = await plan_of(api, shop, campaign_id)
    assert _amounts(plan) == [("PAID", "333.33"), ("PAID", "333.33"), ("PAID", "333.34")]
    assert plan["funded"]["amount"] == "1000.00"


async def test_two_workers_at_the_same_instant_charge_each_invoice_once(
    api, users, webhooks, jobs
) -> None:
    import asyncio

    shop = await card_shop(api, users, webhooks)
    ids = [await card_campaign(api, shop) for _ in range(3)]
    for campaign_id in ids:
        await launch(api, shop, campaign_id)
        await _spend(api, shop, campaign_id, "400.00", f"e-{campaign_id}")
    at = days_from_now(14.1)

    reports = await asyncio.gather(*(issue_invoices_job(jobs, at) for _ in range(2)))

    assert sum(r.outcomes.get("paid", 0) for r in reports) == 3
    for campaign_id in ids:
        second = (await plan_of(api, shop, campaign_id))["invoices"][1]
        assert second["status"] == "PAID"
        assert await webhooks.sandbox.charges_made(second["paymentReference"]) == 1


# -- declined cards ----------------------------------------------------------------------


async def test_a_declined_first_installment_leaves_the_campaign_waiting(
    api, users, webhooks, jobs
) -> None:
    shop = await card_shop(api, users, webhooks, declining=True)
    campaign_id = await card_campaign(api, shop)

    launched = await launch(api, shop, campaign_id)

    assert launched["campaign"]["status"] == "PENDING_FUNDS"
    plan = await plan_of(api, shop, campaign_id)
    assert _amounts(plan)[0] == ("OPEN", "333.33")
    assert plan["funded"]["amount"] == "0.00"
    refused = await _spend(api, shop, campaign_id, "10.00", "e1")
    assert refused["refused"][0]["amount"]["amount"] == "10.00"


async def test_declines_are_retried_then_the_campaign_is_paused_and_a_payment_resumes_it(
    api, users, webhooks, jobs, sessions
) -> None:
    # given a delivering plan whose card starts declining
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop)
    await launch(api, shop, campaign_id)
    await _spend(api, shop, campaign_id, "400.00", "e1")
    await attach_card(api, shop, webhooks, declining=True)
    # when the second installment falls due and every retry (1, 3, 5 days later) declines
    due = days_from_now(14.1)
    first = await issue_invoices_job(jobs, due)
    retries = [
        await issue_invoices_job(jobs, due + timedelta(days=days, minutes=1)) for days in (1, 4, 9)
    ]
    # then the campaign is paused with the reason after the last attempt
    assert first.outcomes.get("declined") == 1
    assert [r.outcomes.get("declined", 0) + r.outcomes.get("paused", 0) for r in retries] == [1] * 3
    assert retries[-1].outcomes.get("paused") == 1
    plan = await plan_of(api, shop, campaign_id)
    assert plan["status"] == "PAUSED"
    shown = await api.data(
        "query($id: ID!) { campaign(id: $id) { pauseReason } }", {"id": campaign_id}, shop.token
    )
    reason = shown["campaign"]["pauseReason"]
    assert "installment 2 of 3" in reason and "declined" in reason
    assert str(await issue_invoices_job(jobs, due + timedelta(days=20))) == "no invoices due"
    # when the customer pays the invoice by hand
    second = plan["invoices"][1]
    assert (await webhooks.pay(second["paymentReference"])).status_code == 200
    # then the campaign delivers again
    plan = await plan_of(api, shop, campaign_id)
    assert (plan["status"], plan["invoices"][1]["status"]) == ("ACTIVE", "PAID")
    paused = await api.data(
        "query($id: ID!) { campaign(id: $id) { pauseReason } }", {"id": campaign_id}, shop.token
    )
    assert paused["campaign"]["pauseReason"] is None


# -- early cancellation and the end of the plan -------------------------------------------


async def test_canceling_if_available_voids_the_future_and_credits_the_unspent_payment(
    api, users, webhooks
) -> None:
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop)
    await launch(api, shop, campaign_id)
    await _spend(api, shop, campaign_id, "100.00", "e1")

    canceled = await campaign_action(api, "cancelCampaign", campaign_id, shop.token)

    assert canceled["__typename"] == "CampaignActionSuccess", canceled
    plan = await plan_of(api, shop, campaign_id)
    assert _amounts(plan) == [("PAID", "333.33"), ("VOID", "0.00"), ("VOID", "0.00")]
    assert (plan["status"], plan["credited"]["amount"]) == ("CANCELED", "233.33")
    assert [i["discount"]["amount"] for i in plan["invoices"]] == ["0.00", "333.33", "333.34"]
    cash = await balance(api, shop.account.wallet_id, shop.token)
    assert cash["cash"]["amount"] == "233.33"


async def test_canceling_after_delivery_ran_ahead_bills_what_was_delivered(
    api, users, webhooks, jobs
) -> None:
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop)
    await launch(api, shop, campaign_id)
    await _spend(api, shop, campaign_id, "500.00", "e1")

    canceled = await campaign_action(api, "cancelCampaign", campaign_id, shop.token)
    charged = await issue_invoices_job(jobs, days_from_now(0.01))

    assert canceled["__typename"] == "CampaignActionSuccess", canceled
    plan = await plan_of(api, shop, campaign_id)
    second = plan["invoices"][1]
    assert (second["subtotal"]["amount"], second["discount"]["amount"]) == ("333.33", "166.66")
    assert _amounts(plan) == [("PAID", "333.33"), ("PAID", "166.67"), ("VOID", "0.00")]
    assert charged.outcomes.get("paid") == 1
    assert plan["credited"]["amount"] == "0.00"


# -- under-spend (IF_AVAILABLE) ------------------------------------------------------------


async def test_while_delivery_is_below_the_payments_the_next_installment_moves_later(
    api, users, webhooks, jobs
) -> None:
    # given a plan of three with 333.33 paid and only 100.00 delivered
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop)
    await launch(api, shop, campaign_id)
    await _spend(api, shop, campaign_id, "100.00", "e1")
    before = [i["issueOn"] for i in (await plan_of(api, shop, campaign_id))["invoices"]]
    # when the second installment's date comes
    report = await issue_invoices_job(jobs, days_from_now(14.1))
    # then it moves one interval (14 days) later, and the third with it; nothing is charged
    assert report.outcomes == {"postponed": 1}
    plan = await plan_of(api, shop, campaign_id)
    after = [i["issueOn"] for i in plan["invoices"]]
    moved = [
        datetime.fromisoformat(a) - datetime.fromisoformat(b)
        for a, b in zip(after, before, strict=True)
    ]
    assert moved == [timedelta(0), timedelta(days=14), timedelta(days=14)]
    assert _amounts(plan)[1:] == [("SCHEDULED", "333.33"), ("SCHEDULED", "333.34")]
    # and once delivery passes what was paid, the moved installment is charged on its date
    await _spend(api, shop, campaign_id, "300.00", "e2")
    charged = await issue_invoices_job(jobs, days_from_now(28.1))
    assert (charged.outcomes.get("issued"), charged.outcomes.get("paid")) == (1, 1)


async def test_at_the_end_several_invoices_left_bill_what_was_delivered(
    api, users, webhooks, jobs
) -> None:
    from adledger.jobs.campaigns import credit_sweep_job

    # given a 30-day plan of three, 333.33 paid, 500.00 delivered, the second postponed
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop, days=30, starts_in_days=-1)
    await launch(api, shop, campaign_id)
    await _spend(api, shop, campaign_id, "500.00", "e1")
    # when the flight ends and the campaign is settled
    settled = await credit_sweep_job(jobs, days_from_now(29.6))
    charged = await issue_invoices_job(jobs, days_from_now(29.61))
    # then the last invoice is reduced by the shortfall (to zero: voided) and the one
    # before it by the rest: 500.00 billed in all
    assert settled.steps.get("settled with nothing left") == 1
    plan = await plan_of(api, shop, campaign_id)
    assert _amounts(plan) == [("PAID", "333.33"), ("PAID", "166.67"), ("VOID", "0.00")]
    assert plan["invoices"][1]["discount"]["amount"] == "166.66"
    assert (plan["status"], plan["credited"]["amount"]) == ("COMPLETED", "0.00")
    assert charged.outcomes.get("paid") == 1


async def test_at_the_end_with_one_invoice_left_the_unspent_payment_becomes_credit(
    api, users, webhooks, jobs
) -> None:
    from adledger.jobs.campaigns import credit_sweep_job

    # given a 10-day plan of two (every 7 days): 500.00 paid, 300.00 delivered
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop, days=10)
    await launch(api, shop, campaign_id)
    await _spend(api, shop, campaign_id, "300.00", "e1")
    assert await issue_invoices_job(jobs, days_from_now(7.1)) is not None
    # when the flight ends and the campaign is settled
    await credit_sweep_job(jobs, days_from_now(9.6))
    # then the last invoice asks nothing and 200.00 of the payment is credit
    plan = await plan_of(api, shop, campaign_id)
    assert _amounts(plan) == [("PAID", "500.00"), ("VOID", "0.00")]
    assert plan["invoices"][1]["discount"]["amount"] == "500.00"
    assert plan["credited"]["amount"] == "200.00"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "200.00"
