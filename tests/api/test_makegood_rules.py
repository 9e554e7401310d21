"""Where a makegood's money comes from, and what it leaves for the rules after it (DESIGN
§9 "Conservation per campaign"; the table of orders in docs/billing.md): the reserve
first (lowering the budget), revenue only for spend billed above the delivered value;
voucher money back to vouchers; card plans once their invoices are settled; campaigns
that draw as they spend once settled."""

from __future__ import annotations

from tests.api.allocation_fixtures import open_center
from tests.api.installment_fixtures import card_campaign, card_shop
from tests.api.installment_fixtures import launch as launch_card
from tests.api.makegood_fixtures import (
    Booked,
    accept,
    balance,
    booked_campaign,
    cancel,
    cash,
    credits,
    deliver,
    end_and_sweep,
    made_good,
    money,
    offer,
    refunds_sent,
)
from tests.helpers import Api, campaign_action, launch, update_budget
from tests.helpers import balance as wallet_balance

CREATE = """mutation($input: CreateCampaignInput!) { createCampaign(input: $input) {
  __typename ... on CreateCampaignSuccess { campaign { id } } ... on UserError { code } } }"""


async def test_a_makegood_from_the_reserve_lowers_the_budget_and_stops_delivery(api, users) -> None:
    # given 500.00 for 100,000 impressions, 20,000 delivered for 100.00
    booked = await booked_campaign(api, users)
    # when the makegood of the under-delivered 400.00 is accepted
    assert await made_good(api, booked, "CREDIT") == "400.00"
    # then it came out of the reserve: the budget is what was spent, delivery stops
    assert await money(api, booked) == {
        "status": "BUDGET_EXHAUSTED",
        "budget": "100.00",
        "spent": "100.00",
        "funded": "100.00",
        "credited": "0.00",
        "madeGoodFromReserve": "400.00",
        "madeGoodFromRevenue": "0.00",
    }
    assert await credits(api, booked) == [("MAKEGOOD_CREDIT", "CASH", "400.00")]


async def test_a_paused_campaign_made_good_in_full_stays_stopped_when_resumed(api, users) -> None:
    # given a paused campaign whose whole unspent budget was made good
    booked = await booked_campaign(api, users)
    await campaign_action(api, "pauseCampaign", booked.campaign_id, booked.shop.token)
    assert await made_good(api, booked, "CREDIT") == "400.00"
    # when its customer resumes it
    resumed = await campaign_action(api, "resumeCampaign", booked.campaign_id, booked.shop.token)
    # then it has nothing left to deliver: stopped on its budget, not ACTIVE
    assert resumed["campaign"]["status"] == "BUDGET_EXHAUSTED"
    assert (await money(api, booked))["budget"] == "100.00"


async def test_spend_billed_above_the_delivered_value_is_made_good_from_revenue(
    api, users, sessions, jobs
) -> None:
    # given 300.00 billed for 20,000 of 100,000 impressions on 500.00: worth 100.00
    booked = await booked_campaign(api, users, spend="300.00")
    # when the makegood is accepted, and then the flight ends and is swept
    assert await made_good(api, booked, "CREDIT") == "400.00"
    await end_and_sweep(sessions, jobs, booked)
    # then 200.00 came from the reserve and 200.00 from revenue, and the sweep had nothing
    found = await money(api, booked)
    assert (found["madeGoodFromReserve"], found["madeGoodFromRevenue"]) == ("200.00", "200.00")
    assert await credits(api, booked) == [
        ("MAKEGOOD_CREDIT", "CASH", "200.00"),
        ("MAKEGOOD_CREDIT", "CASH", "200.00"),
    ]
    assert await cash(api, booked) == "400.00"


async def test_the_cancellation_then_a_makegood_reverses_only_the_overbilled_part(
    api, users
) -> None:
    booked = await booked_campaign(api, users, spend="300.00")
    await cancel(api, booked)

    assert await made_good(api, booked, "CREDIT") == "200.00"

    assert await credits(api, booked) == [
        ("CANCELLATION_CREDIT", "CASH", "200.00"),
        ("MAKEGOOD_CREDIT", "CASH", "200.00"),
    ]
    assert (await money(api, booked))["madeGoodFromRevenue"] == "200.00"


async def test_a_second_makegood_finds_nothing_left(api, users) -> None:
    booked = await booked_campaign(api, users)
    await made_good(api, booked, "CREDIT")

    second = await offer(api, booked, "REFUND")

    assert second["code"] == "INVALID_STATE", second
    assert await cash(api, booked) == "400.00"


async def test_a_makegood_then_a_budget_cut_returns_only_the_rest(api, users, sessions, jobs):
    # given 20,000 delivered for 50.00 (worth 100.00): the makegood leaves 50.00 reserved
    booked = await booked_campaign(api, users, spend="50.00")
    assert await made_good(api, booked, "CREDIT") == "400.00"
    # when the budget is cut to the spend, and the flight ends and is swept
    cut = await update_budget(api, booked.campaign_id, booked.shop.token, "50.00")
    await end_and_sweep(sessions, jobs, booked)
    # then the cut returned the 50.00 left, and 450.00 came back in all
    assert cut["__typename"] == "UpdateCampaignBudgetSuccess", cut
    assert await credits(api, booked) == [
        ("MAKEGOOD_CREDIT", "CASH", "400.00"),
        ("BUDGET_REDUCTION_CREDIT", "CASH", "50.00"),
    ]
    assert await cash(api, booked) == "450.00"


async def test_a_budget_cut_then_a_makegood_gives_back_what_the_makegood_alone_would(
    api, users
) -> None:
    # given the budget cut from 500.00 to 200.00 after 100.00 delivered 20,000 impressions
    booked = await booked_campaign(api, users)
    cut = await update_budget(api, booked.campaign_id, booked.shop.token, "200.00")
    assert cut["__typename"] == "UpdateCampaignBudgetSuccess", cut
    # when a makegood is accepted
    amount = await made_good(api, booked, "CREDIT")
    # then the cut does not re-price what was delivered: 400.00 back in all, as without it
    assert amount == "100.00"
    assert await cash(api, booked) == "400.00"


async def test_a_campaign_made_good_takes_no_more_budget(api, users) -> None:
    booked = await booked_campaign(api, users, spend="50.00")
    await made_good(api, booked, "CREDIT")

    raised = await update_budget(api, booked.campaign_id, booked.shop.token, "300.00")

    assert raised["__typename"] == "InvalidStateError", raised
    assert (await money(api, booked))["budget"] == "100.00"


async def test_an_offer_accepted_after_more_delivery_pays_the_share_left(api, users) -> None:
    # given an offer of 400.00 at 20,000 impressions, then 10,000 more for 50.00
    booked = await booked_campaign(api, users)
    made = await offer(api, booked, "CREDIT")
    await deliver(api, booked, "50.00", 10_000, "d-2")
    # when the customer accepts it
    accepted = await accept(api, booked, made["id"])
    # then it pays what 30,000 of 100,000 leave under-delivered: 350.00
    assert accepted["campaign"]["makegoodOffers"] == [
        {"status": "ACCEPTED", "amount": {"amount": "350.00"}}
    ]
    assert await cash(api, booked) == "350.00"


async def test_voucher_money_goes_back_to_vouchers_and_only_cash_to_the_card(
    api, users, webhooks
) -> None:
    # given 500.00 of which 200.00 vouchers (spent first: 100.00 of them delivered)
    booked = await booked_campaign(api, users, vouchers="200.00", webhooks=webhooks)
    # when a makegood refund of 400.00 is accepted
    assert await made_good(api, booked, "REFUND") == "400.00"
    # then the 300.00 cash goes to the card, the 100.00 voucher money back to vouchers
    assert await refunds_sent(api, booked) == [("MAKEGOOD", "300.00")]
    assert await balance(api, booked) == {"cash": "0.00", "vouchers": "100.00"}


async def test_a_card_plan_is_made_good_once_its_invoices_are_settled(
    api, users, webhooks, sessions, jobs
) -> None:
    # given a GUARANTEED 500.00 paid in installments (one paid, more scheduled)
    shop = await card_shop(api, users, webhooks)
    staff = await users.create("billing", staff=True)
    owed = await _card_campaign(api, shop, staff, "INSTALLMENTS", days=30)
    prepaid = await _card_campaign(api, shop, staff, "PREPAY", days=30)
    # when staff offer a makegood on each
    refused = await offer(api, owed, "CREDIT")
    amount = await made_good(api, prepaid, "CREDIT")
    await end_and_sweep(sessions, jobs, prepaid)
    # then the plan still owed waits for billing; the paid one gave 400.00 back, once
    assert refused["code"] == "INVALID_STATE", refused
    assert "invoices are settled" in refused["message"]
    assert amount == "400.00"
    assert await credits(api, prepaid) == [("MAKEGOOD_CREDIT", "CASH", "400.00")]


async def _card_campaign(api: Api, shop, staff, plan: str, days: int) -> Booked:
    campaign_id = await card_campaign(
        api, shop, budget="500.00", plan=plan, delivery="GUARANTEED", days=days
    )
    launched = await launch_card(api, shop, campaign_id)
    assert launched["__typename"] == "LaunchCampaignSuccess", launched
    booked = Booked(shop, campaign_id, staff)
    await deliver(api, booked, "100.00", 20_000, f"d-{campaign_id}")
    return booked


async def test_a_campaign_drawing_on_the_center_is_made_good_from_revenue_once_settled(
    api, users, sessions, jobs
) -> None:
    # given a GUARANTEED campaign drawing on its center, 300.00 billed for 20,000 of 100,000
    center = await open_center(api, users, ["500.00"])
    staff = await users.create("billing", staff=True)
    booked = Booked(center, await _drawn_campaign(api, center), staff)  # type: ignore[arg-type]
    await deliver(api, booked, "300.00", 20_000, "d-1")
    # when staff offer a makegood while it may still be billed, then once it is settled
    early = await offer(api, booked, "CREDIT")
    await end_and_sweep(sessions, jobs, booked)
    amount = await made_good(api, booked, "CREDIT")
    # then only what was billed above its 100.00 of delivery comes back, to the center
    assert early["code"] == "INVALID_STATE", early
    assert amount == "200.00"
    center_cash = await wallet_balance(api, center.center.wallet_id, center.token)
    assert center_cash["cash"]["amount"] == "400.00"


async def _drawn_campaign(api: Api, center) -> str:
    from tests.helpers import flight

    starts, ends = flight(30)
    given = {
        "adAccountId": center.accounts[0].id,
        "name": "Drawn",
        "budget": {"amount": "500.00", "currencyCode": "USD"},
        "startsAt": starts,
        "endsAt": ends,
        "deliveryType": "GUARANTEED",
        "bookedImpressions": 100_000,
    }
    created = (await api.data(CREATE, {"input": given}, center.token))["createCampaign"]
    assert created["__typename"] == "CreateCampaignSuccess", created
    launched = await launch(api, created["campaign"]["id"], center.token)
    assert launched["campaign"]["status"] == "ACTIVE", launched
    return str(created["campaign"]["id"])
