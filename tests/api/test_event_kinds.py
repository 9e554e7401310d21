"""Partner events (issue 26) of money coming back and of the center's money settings:
credits, refunds, makegoods, automatic allocation, budget caps, the credit line, the
saved card, the plan subscription. Each is recorded once, in the transaction of its
change, with the object as the API shows it; a replay that changes nothing tells nothing;
a change that fails after its event was recorded leaves none."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from adledger import clock
from adledger.domain.errors import InvalidState
from adledger.jobs.billing import renew_subscriptions_job
from adledger.schema.ids import db_id_of
from tests.api.allocation_fixtures import enable_allocation, open_center, set_budget
from tests.api.campaign_fixtures import Shop, open_shop
from tests.api.event_scenarios import (
    EVERY_PRODUCED_TYPE,
    approve_refund,
    cancel_plan,
    decline_makegood,
    decline_refund,
    feed_events,
    period_end,
    produce_every_event_type,
    request_refund,
    set_credit_line,
    settle_refund,
    usd,
)
from tests.api.installment_fixtures import SETUP, attach_card, card_campaign
from tests.api.installment_fixtures import launch as launch_card
from tests.api.makegood_fixtures import accept, booked_campaign, end_and_sweep, offer
from tests.helpers import (
    Center,
    campaign_action,
    create_center,
    launch,
    new_campaign,
    record_spend,
    spend_event,
    subscribe,
    top_up,
    update_budget,
)


async def _told(api, center: Center, *types: str, token: str | None = None) -> list[Any]:
    """The center's events of these types, oldest first."""
    return await feed_events(api, center.id, token or center.admin.token, list(types))


def _center_db_id(global_id: str) -> int:
    found = db_id_of(global_id, "BusinessCenter")
    assert found is not None
    return found


def _kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


# -- every type, one center ------------------------------------------------------------


async def test_one_center_goes_through_every_event_type(
    api, users, jobs, webhooks, sessions
) -> None:
    # when the scenario drives one center through everything a partner may be told
    world = await produce_every_event_type(api, users, jobs, webhooks, sessions)
    # then its feed holds every type but the webhooks' own, numbered without a gap
    events = await feed_events(api, world.center.id, world.token)
    expected = {t.value for t in EVERY_PRODUCED_TYPE}
    told = Counter(e["type"] for e in events)
    assert set(told) == expected, sorted(expected - set(told))
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert {e["businessCenter"]["id"] for e in events} == {world.center.id}
    # and the staff's discount is told with the invoice as it left it
    [discounted] = [e["data"] for e in events if e["type"] == "invoice.discounted"]
    assert (discounted["kind"], discounted["discount"]) == ("INSTALLMENT", usd("33.33"))


# -- credits ---------------------------------------------------------------------------


async def test_a_budget_reduction_is_one_credit_of_its_kind(api, users) -> None:
    # given a campaign of 200.00 paid from its account's balance
    shop = await open_shop(api, users, cash="300.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "200.00")
    await launch(api, campaign_id, shop.token)
    # when its budget is lowered to 150.00, then set to 150.00 again
    first = await update_budget(api, campaign_id, shop.token, "150.00")
    again = await update_budget(api, campaign_id, shop.token, "150.00")
    # then one credit of 50.00 back to the account's wallet is told
    assert (first["credited"], again["credited"]) == ({"amount": "50.00"}, {"amount": "0.00"})
    [credit] = await _told(api, shop.center, "credit.issued")
    assert credit["data"] == {
        "kind": "BUDGET_REDUCTION_CREDIT",
        "amount": usd("50.00"),
        "description": "Budget of campaign Spring sale reduced",
        "campaign": {"id": campaign_id},
        "wallet": {"id": shop.account.wallet_id},
    }


async def test_a_cancellation_and_the_credit_sweep_are_credits_of_their_kinds(
    api, users, jobs, sessions
) -> None:
    # given a campaign of 100.00 canceled twice, and a GUARANTEED one of 500.00 that
    # delivered 100.00, ended and swept twice
    booked = await booked_campaign(api, users)
    shop = booked.shop
    await users.fund(shop.account.wallet_id, "100.00")
    canceled = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, canceled, shop.token)
    await campaign_action(api, "cancelCampaign", canceled, shop.token)
    refused = await campaign_action(api, "cancelCampaign", canceled, shop.token)
    await end_and_sweep(sessions, jobs, booked)
    await end_and_sweep(sessions, jobs, booked)
    # then each credit is told once, with its kind and amount
    credits = await _told(api, shop.center, "credit.issued")
    assert refused["code"] == "INVALID_STATE"
    assert [
        (c["data"]["kind"], c["data"]["amount"]["amount"], c["data"]["campaign"]["id"])
        for c in credits
    ] == [
        ("CANCELLATION_CREDIT", "100.00", canceled),
        ("UNDERDELIVERY_CREDIT", "400.00", booked.campaign_id),
    ]
    assert {c["data"]["wallet"]["id"] for c in credits} == {shop.account.wallet_id}


# -- refunds ---------------------------------------------------------------------------


async def _paid_top_ups(api, webhooks, shop: Shop, *amounts: str) -> None:
    for amount in amounts:
        made = await top_up(api, shop.center.wallet_id, shop.token, amount=amount)
        await webhooks.pay(made["topUp"]["invoice"]["paymentReference"])


async def test_a_request_is_told_requested_then_declined_once_each(api, users, webhooks) -> None:
    # given a paid top-up of 100.00
    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00")
    staff = await users.create("billing", staff=True)
    # when 40.00 is requested back twice with one key, and staff decline it twice
    wallet = shop.center.wallet_id
    asked = await request_refund(api, wallet, "40.00", shop.token, key="refund-1")
    replayed = await request_refund(api, wallet, "40.00", shop.token, key="refund-1")
    request_id = asked["refundRequest"]["id"]
    declined = await decline_refund(api, request_id, staff)
    refused = await decline_refund(api, request_id, staff)
    # then the request is told once requested and once declined
    assert replayed["refundRequest"]["id"] == request_id
    assert (declined["__typename"], refused["code"]) == ("RefundDecisionSuccess", "INVALID_STATE")
    requested, told_declined = await _told(api, shop.center, "refund.requested", "refund.declined")
    assert _kinds([requested, told_declined]) == ["refund.requested", "refund.declined"]
    assert requested["data"] | {"requestedAt": None} == {
        "id": request_id,
        "status": "REQUESTED",
        "reason": "CREDIT_BALANCE",
        "amount": usd("40.00"),
        "requestedAt": None,
        "decidedAt": None,
        "note": None,
        "refunds": [],
        "wallet": {"id": wallet},
        "campaign": None,
    }
    assert (told_declined["data"]["status"], told_declined["data"]["note"]) == (
        "DECLINED",
        "not this time",
    )


async def test_an_approved_request_is_told_once_it_settles(api, users, webhooks) -> None:
    # given two paid top-ups, 100.00 then 80.00, and 150.00 asked back (two refunds)
    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00", "80.00")
    staff = await users.create("billing", staff=True)
    asked = await request_refund(api, shop.center.wallet_id, "150.00", shop.token)
    request_id = asked["refundRequest"]["id"]
    # when staff approve (twice), the provider fails one refund, then says so again
    approved = await approve_refund(api, request_id, staff)
    again = await approve_refund(api, request_id, staff)
    newest, older = approved["refundRequest"]["refunds"]
    await settle_refund(webhooks, newest["providerReference"], "succeeded", "evt_k1")
    between = await _told(api, shop.center, "refund.succeeded", "refund.failed")
    await settle_refund(webhooks, older["providerReference"], "failed", "evt_k2")
    await settle_refund(webhooks, older["providerReference"], "failed", "evt_k3")
    # then it is told approved once, and failed once its last refund settled
    assert again["code"] == "INVALID_STATE"
    assert between == []
    told = await _told(api, shop.center, "refund.approved", "refund.succeeded", "refund.failed")
    assert _kinds(told) == ["refund.approved", "refund.failed"]
    assert told[0]["data"]["status"] == "SENT"
    assert [r["amount"]["amount"] for r in told[0]["data"]["refunds"]] == ["80.00", "70.00"]
    failed = told[1]["data"]
    assert (failed["id"], failed["status"]) == (request_id, "PARTLY_FAILED")
    assert [(r["status"], r["providerReference"]) for r in failed["refunds"]] == [
        ("SUCCEEDED", newest["providerReference"]),
        ("FAILED", older["providerReference"]),
    ]
    # and a request whose refund succeeds is told succeeded
    asked = await request_refund(api, shop.center.wallet_id, "20.00", shop.token)
    approved = await approve_refund(api, asked["refundRequest"]["id"], staff)
    [refund] = approved["refundRequest"]["refunds"]
    await settle_refund(webhooks, refund["providerReference"], "succeeded", "evt_k4")
    [succeeded] = await _told(api, shop.center, "refund.succeeded")
    assert (succeeded["data"]["id"], succeeded["data"]["status"]) == (
        asked["refundRequest"]["id"],
        "SUCCEEDED",
    )


INACTIVITY = """mutation($input: RequestInactivityRefundInput!) {
  requestInactivityRefund(input: $input) {
    __typename ... on RequestRefundSuccess { refundRequest { id } } ... on UserError { code } } }"""


async def test_an_inactivity_refund_back_to_the_balance_is_told_approved_and_succeeded(
    api, users, sessions
) -> None:
    # given a plan period paid from the balance that ended 10 days ago, unused
    shop = await open_shop(api, users)
    async with sessions() as session:
        await session.execute(
            text(
                "UPDATE invoices SET cycle_start = :start WHERE business_center_id = :c "
                "AND kind = 'SUBSCRIPTION'"
            ),
            {"start": clock.now() - timedelta(days=40), "c": _center_db_id(shop.center.id)},
        )
        await session.commit()
    staff = await users.create("billing", staff=True)
    # when its admin asks for it and staff approve
    given = {"input": {"businessCenterId": shop.center.id}}
    asked = (await api.data(INACTIVITY, given, shop.token))["requestInactivityRefund"]
    request_id = asked["refundRequest"]["id"]
    await approve_refund(api, request_id, staff)
    # then it is told requested, then approved and succeeded at once (nothing to send)
    kinds = ["refund.requested", "refund.approved", "refund.succeeded"]
    told = await _told(api, shop.center, *kinds)
    assert [(e["type"], e["data"]["id"], e["data"]["status"]) for e in told] == [
        ("refund.requested", request_id, "REQUESTED"),
        ("refund.approved", request_id, "SUCCEEDED"),
        ("refund.succeeded", request_id, "SUCCEEDED"),
    ]
    assert told[0]["data"]["reason"] == "INACTIVITY"


REFUND_REJECTED = """mutation($input: RefundRejectedCampaignInput!) {
  refundRejectedCampaign(input: $input) {
    __typename ... on RequestRefundSuccess { refundRequest { id } }
    ... on UserError { code message } } }"""


async def test_a_rejected_campaigns_money_is_requested_and_approved_at_once(
    api, users, webhooks
) -> None:
    # given a campaign of 100.00 paid from a paid top-up, rejected in review
    shop = await open_shop(api, users)
    made = await top_up(api, shop.account.wallet_id, shop.token, amount="150.00")
    await webhooks.pay(made["topUp"]["invoice"]["paymentReference"])
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    staff = await users.create("review", staff=True)
    await campaign_action(api, "rejectCampaign", campaign_id, staff.token, "creative")
    # when its money is sent back to the payment, twice
    given = {"input": {"campaignId": campaign_id}}
    first = (await api.data(REFUND_REJECTED, given, shop.token))["refundRejectedCampaign"]
    again = (await api.data(REFUND_REJECTED, given, shop.token))["refundRejectedCampaign"]
    # then the credit is told, and the refund once, requested and approved together
    assert again["code"] == "INVALID_STATE"
    told = await _told(api, shop.center, "credit.issued", "refund.requested", "refund.approved")
    assert _kinds(told) == ["credit.issued", "refund.requested", "refund.approved"]
    assert told[0]["data"]["kind"] == "CANCELLATION_CREDIT"
    request = told[2]["data"]
    assert (request["id"], request["reason"], request["status"]) == (
        first["refundRequest"]["id"],
        "REJECTED_CAMPAIGN",
        "SENT",
    )
    assert request["campaign"] == {"id": campaign_id}


CANCELLATIONS = """{ cancellationRequests(status: OPEN) { edges { node { id } } } }"""
RESOLVE = """mutation($input: ResolveCancellationRequestInput!) {
  resolveCancellationRequest(input: $input) { __typename ... on UserError { code } } }"""


async def test_a_cancellation_resolved_by_billing_is_a_credit_told_once(
    api, users, webhooks
) -> None:
    # given a GUARANTEED campaign paid by card (333.33 paid), 100.00 delivered, canceled
    shop = await open_shop(api, users)
    await attach_card(api, shop, webhooks)
    campaign_id = await card_campaign(api, shop, delivery="GUARANTEED")
    await launch_card(api, shop, campaign_id)
    await record_spend(api, [spend_event("c1", campaign_id, "100.00")], shop.adserver.token)
    await campaign_action(api, "cancelCampaign", campaign_id, shop.token)
    staff = await users.create("billing", staff=True)
    edges = (await api.data(CANCELLATIONS, None, staff.token))["cancellationRequests"]["edges"]
    given = {"input": {"requestId": edges[0]["node"]["id"], "note": "credit it"}}
    # when staff resolve it with a credit, twice
    first = (await api.data(RESOLVE, given, staff.token))["resolveCancellationRequest"]
    again = (await api.data(RESOLVE, given, staff.token))["resolveCancellationRequest"]
    # then the unspent 233.33 is told once, back to the account's wallet
    assert (first["__typename"], again["code"]) == (
        "ResolveCancellationRequestSuccess",
        "INVALID_STATE",
    )
    [credit] = await _told(api, shop.center, "credit.issued")
    assert credit["data"] | {"description": None} == {
        "kind": "CANCELLATION_CREDIT",
        "amount": usd("233.33"),
        "description": None,
        "campaign": {"id": campaign_id},
        "wallet": {"id": shop.account.wallet_id},
    }


# -- makegoods -------------------------------------------------------------------------


async def test_a_makegood_is_told_offered_declined_then_accepted_with_its_credit(
    api, users
) -> None:
    # given a GUARANTEED campaign of 500.00 that delivered 20,000 of 100,000 for 100.00
    booked = await booked_campaign(api, users)
    # when staff offer a credit (and again while it is open), the customer declines (twice)
    first = await offer(api, booked, "CREDIT")
    twice = await offer(api, booked, "CREDIT")
    declined = await decline_makegood(api, first["id"], booked.shop.token)
    refused = await decline_makegood(api, first["id"], booked.shop.token)
    # and staff offer it again, which the customer accepts (twice)
    second = await offer(api, booked, "CREDIT")
    accepted = await accept(api, booked, second["id"])
    replayed = await accept(api, booked, second["id"])
    # then each step is told once, the accepted credit with it
    assert (twice["code"], refused["code"], replayed["code"]) == ("INVALID_STATE",) * 3
    assert (declined["__typename"], accepted["__typename"]) == ("MakegoodSuccess",) * 2
    kinds = ["makegood.offered", "makegood.declined", "makegood.accepted", "credit.issued"]
    told = await _told(api, booked.shop.center, *kinds)
    assert [(e["type"], e["data"].get("id")) for e in told] == [
        ("makegood.offered", first["id"]),
        ("makegood.declined", first["id"]),
        ("makegood.offered", second["id"]),
        ("credit.issued", None),
        ("makegood.accepted", second["id"]),
    ]
    offered = told[0]["data"]
    assert (offered["kind"], offered["status"], offered["amount"]) == (
        "CREDIT",
        "OFFERED",
        usd("400.00"),
    )
    assert (offered["missingImpressions"], offered["campaign"]) == (
        80_000,
        {"id": booked.campaign_id},
    )
    assert told[1]["data"]["status"] == "DECLINED" and told[1]["data"]["decidedAt"]
    assert told[3]["data"] | {"description": None} == {
        "kind": "MAKEGOOD_CREDIT",
        "amount": usd("400.00"),
        "description": None,
        "campaign": {"id": booked.campaign_id},
        "wallet": {"id": booked.shop.account.wallet_id},
    }
    assert (told[4]["data"]["status"], told[4]["data"]["amount"]) == ("ACCEPTED", usd("400.00"))


# -- the center's money settings -------------------------------------------------------


async def test_automatic_allocation_is_told_once_with_budget_sync(api, users) -> None:
    # given a center switched to automatic allocation, its account's 250.00 moved
    center = await open_center(api, users, ["250.00"])
    # when it is asked again
    again = await enable_allocation(api, center.center.id, center.token)
    # then the switch is told once, after the cap Budget Sync gave the account
    assert again["__typename"] == "AllocationModeIrreversibleError"
    kinds = ["ad_account.budget_cap_changed", "automatic_allocation.enabled"]
    capped, enabled = await _told(api, center.center, *kinds)
    assert _kinds([capped, enabled]) == kinds
    account = center.accounts[0].id
    assert enabled["data"]["budgetSyncs"] == [
        {
            "adAccount": {"id": account},
            "movedToBusinessCenter": usd("250.00"),
            "newBudget": usd("250.00"),
        }
    ]
    assert enabled["data"]["businessCenter"]["id"] == center.center.id
    assert enabled["data"]["businessCenter"]["allocationMode"] == "AUTOMATIC"
    assert (capped["data"]["adAccount"], capped["data"]["byBudgetSync"]) == (
        {"id": account},
        True,
    )


async def test_a_budget_cap_change_is_told_and_setting_the_same_cap_is_not(api, users) -> None:
    shop = await open_shop(api, users)
    account = shop.account.id
    # when the cap is set to 500.00 a month, again to the same, then to 20.00 a day
    for mode, amount in (("MONTHLY", "500.00"), ("MONTHLY", "500.00"), ("DAILY", "20.00")):
        result = await set_budget(api, account, shop.token, mode, amount)
        assert result["__typename"] == "SetAdAccountBudgetSuccess", result
    # then two changes are told, each with the cap before and after
    told = await _told(api, shop.center, "ad_account.budget_cap_changed")
    assert [(e["data"]["before"]["mode"], e["data"]["after"]["mode"]) for e in told] == [
        ("UNLIMITED", "MONTHLY"),
        ("MONTHLY", "DAILY"),
    ]
    last = told[1]["data"]
    assert (last["adAccount"], last["byBudgetSync"]) == ({"id": account}, False)
    assert (last["before"]["amount"], last["after"]["amount"]) == (usd("500.00"), usd("20.00"))
    budget = last["budget"]
    assert (budget["mode"], budget["amount"], budget["remaining"]) == (
        "DAILY",
        usd("20.00"),
        usd("20.00"),
    )


async def test_a_credit_line_change_is_told_with_what_it_was(api, users) -> None:
    center = await create_center(api, await users.create("admin"))
    staff = await users.create("staff", staff=True)
    # when staff grant 1000.00, set the same again, then raise it to 2000.00 by 28 days
    for limit, cycle in (("1000.00", "CALENDAR_MONTH"),) * 2 + (("2000.00", "TWENTY_EIGHT_DAYS"),):
        result = await set_credit_line(api, staff, center.id, limit, cycle)
        assert result["__typename"] == "SetCreditLineSuccess", result
    # then the grant and the raise are told
    granted, raised = await _told(api, center, "credit_line.changed")
    assert granted["data"] == {
        "businessCenter": {"id": center.id},
        "wallet": {"id": center.wallet_id},
        "limit": usd("1000.00"),
        "cycle": "CALENDAR_MONTH",
        "netTermsDays": 30,
        "used": usd("0.00"),
        "previous": {"limit": usd("0.00"), "cycle": None, "netTermsDays": None},
    }
    assert (raised["data"]["limit"], raised["data"]["cycle"]) == (
        usd("2000.00"),
        "TWENTY_EIGHT_DAYS",
    )
    assert raised["data"]["previous"]["limit"] == usd("1000.00")


async def test_a_change_failing_after_its_event_leaves_none(api, users, monkeypatch) -> None:
    # given staff granting a credit line, whose last step fails
    center = await create_center(api, await users.create("admin"))
    staff = await users.create("staff", staff=True)

    async def failing(*_: Any) -> None:
        raise InvalidState("funding the waiting campaigns failed")

    monkeypatch.setattr("adledger.services.wallets.fund_waiting", failing)
    # when it is granted
    result = await set_credit_line(api, staff, center.id, "1000.00")
    # then it answers the error and nothing is told
    assert result["code"] == "INVALID_STATE"
    monkeypatch.undo()
    assert await feed_events(api, center.id, center.admin.token) == []


async def test_a_saved_card_is_told_once(api, users, webhooks) -> None:
    # given a card set up and confirmed at the provider, which says so
    shop = await open_shop(api, users)
    started = await api.data(SETUP, {"input": {"businessCenterId": shop.center.id}}, shop.token)
    reference = started["createCardSetup"]["setupReference"]
    setup, _ = await webhooks.sandbox.confirm_card_setup(reference)
    first = await webhooks.post(webhooks.sandbox.setup_event_payload(setup, "evt_card_1"))
    # when it tells the same setup again, in another event
    again = await webhooks.post(webhooks.sandbox.setup_event_payload(setup, "evt_card_2"))
    # then the card is told once, without the provider's reference
    assert (first.json()["outcome"], again.json()["outcome"]) == ("PROCESSED", "PROCESSED")
    told = await _told(api, shop.center, "card.saved")
    assert [e["data"] for e in told] == [
        {
            "businessCenter": {"id": shop.center.id},
            "paymentMethod": {"brand": "visa", "last4": "4242", "expMonth": 12, "expYear": 2029},
        }
    ]


async def test_a_plan_is_told_renewed_and_canceled_once_each(api, users, jobs) -> None:
    # given a center on the PRO plan paid from its balance
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "500.00")
    await subscribe(api, center)
    end = await period_end(api, center)
    # when the renewal runs at the period's end (twice), and its admin cancels (twice)
    await renew_subscriptions_job(jobs, end)
    await renew_subscriptions_job(jobs, end)
    canceled = await cancel_plan(api, center.id, center.admin.token)
    again = await cancel_plan(api, center.id, center.admin.token)
    # then one renewal and one cancellation are told
    assert (canceled["__typename"], again["code"]) == (
        "CancelPlanSubscriptionSuccess",
        "INVALID_STATE",
    )
    kinds = ["plan_subscription.renewed", "plan_subscription.canceled"]
    renewed, told_canceled = await _told(api, center, *kinds)
    assert _kinds([renewed, told_canceled]) == kinds
    assert renewed["data"]["businessCenter"] == {"id": center.id}
    assert (renewed["data"]["plan"], renewed["data"]["status"]) == ("PRO", "ACTIVE")
    assert renewed["data"]["currentPeriodStart"] == end.isoformat()
    paid = await _told(api, center, "invoice.paid")
    assert renewed["data"]["invoice"] == {"id": paid[-1]["data"]["id"]}
    assert told_canceled["data"]["status"] == "CANCELS_AT_PERIOD_END"
