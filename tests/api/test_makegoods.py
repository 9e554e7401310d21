"""Makegoods (DESIGN §9, the ad:personam page): staff flag a GUARANTEED campaign likely to
under-deliver (its center is notified), then offer a MAKEGOOD_CREDIT or a refund for the
under-delivered share (price x missing / booked); nothing moves until the customer
accepts, and an offer is decided once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from adledger import clock
from tests.api.campaign_fixtures import Shop, open_shop
from tests.api.installment_fixtures import card_campaign, launch
from tests.helpers import add_member, record_spend, top_up

FLAG = """
mutation($input: FlagUnderdeliveryInput!) { flagUnderdelivery(input: $input) {
  __typename ... on UserError { code message } } }"""
OFFER = """
mutation($input: OfferMakegoodInput!) { offerMakegood(input: $input) {
  __typename
  ... on MakegoodSuccess { campaign { makegoodOffers { id kind status missingImpressions
    amount { amount } } } }
  ... on UserError { code message } } }"""
ACCEPT = """
mutation($input: DecideMakegoodInput!) { acceptMakegood(input: $input) {
  __typename
  ... on MakegoodSuccess { campaign { makegoodOffers { status } } }
  ... on UserError { code message } } }"""
DECLINE = """
mutation($input: DecideMakegoodInput!) { declineMakegood(input: $input) {
  __typename ... on UserError { code message } } }"""
CENTER = """query($id: ID!) { businessCenter(id: $id) { notifications { edges { node {
  kind message campaignId } } } } }"""
CASH = "query($id: ID!) { wallet(id: $id) { balance { cash { amount } } } }"


async def _underdelivered(api, users, *, funded_by_payment: bool = False, webhooks=None):
    """A GUARANTEED 1,000.00 campaign booking 100,000 impressions that spent its budget on
    80,000 of them."""
    shop = await open_shop(api, users, cash="0.00" if funded_by_payment else "1000.00")
    if funded_by_payment:
        made = await top_up(api, shop.account.wallet_id, shop.token, amount="1000.00")
        await webhooks.pay(made["topUp"]["invoice"]["paymentReference"])
    campaign_id = await card_campaign(
        api, shop, plan="CREDIT_BALANCE", delivery="GUARANTEED", booked=100_000
    )
    assert (await launch(api, shop, campaign_id))["campaign"]["status"] == "ACTIVE"
    event = {
        "eventId": "mg-1",
        "campaignId": campaign_id,
        "amount": {"amount": "1000.00", "currencyCode": "USD"},
        "impressions": 80_000,
        "occurredAt": clock.now().isoformat(),
    }
    assert (await record_spend(api, [event], shop.adserver.token))["accepted"] == 1
    return shop, campaign_id


async def _offer(api, staff, campaign_id: str, kind: str) -> dict[str, Any]:
    variables = {"input": {"campaignId": campaign_id, "kind": kind, "note": "under-delivered"}}
    return dict((await api.data(OFFER, variables, staff.token))["offerMakegood"])


async def _cash(api, shop: Shop) -> str:
    found = await api.data(CASH, {"id": shop.account.wallet_id}, shop.token)
    return str(found["wallet"]["balance"]["cash"]["amount"])


async def test_a_guaranteed_campaign_books_its_impressions(api, users) -> None:
    shop = await open_shop(api, users)
    created = await api.data(
        """mutation($input: CreateCampaignInput!) { createCampaign(input: $input) {
          __typename ... on UserError { code field } } }""",
        {
            "input": {
                "adAccountId": shop.account.id,
                "name": "No booking",
                "budget": {"amount": "100.00", "currencyCode": "USD"},
                "startsAt": (clock.now() + timedelta(days=1)).isoformat(),
                "endsAt": (clock.now() + timedelta(days=31)).isoformat(),
                "deliveryType": "GUARANTEED",
            }
        },
        shop.token,
    )
    assert created["createCampaign"] == {
        "__typename": "InvalidInputError",
        "code": "INVALID_INPUT",
        "field": ["input", "bookedImpressions"],
    }


async def test_the_seed_makegood_credit_for_the_underdelivered_share(api, users) -> None:
    # given a campaign that delivered 80,000 of its 100,000 booked impressions
    shop, campaign_id = await _underdelivered(api, users)
    staff = await users.create("billing", staff=True)
    # when staff flag it, then offer a credit
    flagged = await api.data(
        FLAG, {"input": {"campaignId": campaign_id, "message": "pacing below booking"}}, staff.token
    )
    offered = await _offer(api, staff, campaign_id, "CREDIT")
    # then the center is told, and the offer is 1,000.00 x 20,000 / 100,000 = 200.00
    assert flagged["flagUnderdelivery"]["__typename"] == "MakegoodSuccess"
    told = await api.data(CENTER, {"id": shop.center.id}, shop.token)
    kinds = [e["node"]["kind"] for e in told["businessCenter"]["notifications"]["edges"]]
    assert kinds == ["MAKEGOOD_OFFERED", "UNDERDELIVERY_LIKELY"]
    [offer] = offered["campaign"]["makegoodOffers"]
    assert (offer["kind"], offer["missingImpressions"], offer["amount"]["amount"]) == (
        "CREDIT",
        20_000,
        "200.00",
    )
    # and nothing moved before the customer accepts
    assert await _cash(api, shop) == "0.00"
    accepted = await api.data(ACCEPT, {"input": {"offerId": offer["id"]}}, shop.token)
    again = await api.data(ACCEPT, {"input": {"offerId": offer["id"]}}, shop.token)
    assert accepted["acceptMakegood"]["campaign"]["makegoodOffers"] == [{"status": "ACCEPTED"}]
    assert again["acceptMakegood"]["code"] == "INVALID_STATE"
    assert await _cash(api, shop) == "200.00"


async def test_a_makegood_refund_goes_to_the_payments(api, users, webhooks) -> None:
    shop, campaign_id = await _underdelivered(api, users, funded_by_payment=True, webhooks=webhooks)
    staff = await users.create("billing", staff=True)
    [offer] = (await _offer(api, staff, campaign_id, "REFUND"))["campaign"]["makegoodOffers"]

    accepted = await api.data(ACCEPT, {"input": {"offerId": offer["id"]}}, shop.token)

    assert accepted["acceptMakegood"]["__typename"] == "MakegoodSuccess"
    sent = await api.data(
        """{ refundRequests(status: SENT) { edges { node { reason amount { amount }
          refunds { amount { amount } status } } } } }""",
        None,
        staff.token,
    )
    [node] = [e["node"] for e in sent["refundRequests"]["edges"]]
    assert (node["reason"], node["amount"]["amount"]) == ("MAKEGOOD", "200.00")
    assert [r["amount"]["amount"] for r in node["refunds"]] == ["200.00"]
    assert await _cash(api, shop) == "0.00"


async def test_only_staff_offer_only_money_people_decide_and_a_decline_moves_nothing(
    api, users
) -> None:
    shop, campaign_id = await _underdelivered(api, users)
    staff = await users.create("billing", staff=True)
    standard = await users.create("standard")
    await add_member(api, shop.center, standard, "STANDARD")
    stranger = await open_shop(api, users)

    by_customer = await _offer(api, shop.admin, campaign_id, "CREDIT")
    [offer] = (await _offer(api, staff, campaign_id, "CREDIT"))["campaign"]["makegoodOffers"]
    second = await _offer(api, staff, campaign_id, "REFUND")
    by_standard = await api.data(ACCEPT, {"input": {"offerId": offer["id"]}}, standard.token)
    by_stranger = await api.data(ACCEPT, {"input": {"offerId": offer["id"]}}, stranger.token)
    declined = await api.data(DECLINE, {"input": {"offerId": offer["id"]}}, shop.token)
    after = await _offer(api, staff, campaign_id, "REFUND")

    assert by_customer["code"] == "FORBIDDEN"
    assert second["code"] == "INVALID_STATE"  # one open offer at a time
    assert by_standard["acceptMakegood"]["code"] == "FORBIDDEN"
    assert by_stranger["acceptMakegood"]["code"] == "NOT_FOUND"
    assert declined["declineMakegood"]["__typename"] == "MakegoodSuccess"
    assert [o["status"] for o in after["campaign"]["makegoodOffers"]] == ["DECLINED", "OFFERED"]
    assert await _cash(api, shop) == "0.00"


async def test_a_campaign_is_made_good_once_for_its_shortfall(api, users) -> None:
    shop, campaign_id = await _underdelivered(api, users)
    staff = await users.create("billing", staff=True)
    [offer] = (await _offer(api, staff, campaign_id, "CREDIT"))["campaign"]["makegoodOffers"]
    await api.data(ACCEPT, {"input": {"offerId": offer["id"]}}, shop.token)

    again = await _offer(api, staff, campaign_id, "CREDIT")

    assert again["code"] == "INVALID_STATE"
    assert await _cash(api, shop) == "200.00"


async def test_a_makegood_flight_delivers_the_missing_impressions_at_price_zero(api, users) -> None:
    # given a campaign 20,000 impressions short, and a flight offered for them
    shop, campaign_id = await _underdelivered(api, users)
    staff = await users.create("billing", staff=True)
    starts = clock.now() - timedelta(minutes=5)
    variables = {
        "input": {
            "campaignId": campaign_id,
            "kind": "FLIGHT",
            "startsAt": starts.isoformat(),
            "endsAt": (starts + timedelta(days=14)).isoformat(),
        }
    }
    offered = (await api.data(OFFER, variables, staff.token))["offerMakegood"]
    [offer] = offered["campaign"]["makegoodOffers"]
    assert (offer["kind"], offer["missingImpressions"], offer["amount"]["amount"]) == (
        "FLIGHT",
        20_000,
        "0.00",
    )
    # when the customer accepts it
    accepted = await api.data(ACCEPT, {"input": {"offerId": offer["id"]}}, shop.token)
    assert accepted["acceptMakegood"]["__typename"] == "MakegoodSuccess"
    flight = await api.data(
        """query($id: ID!) { campaign(id: $id) { makegoodOffers { makegoodCampaign {
          id status budget { amount } bookedImpressions makegoodFor { id } } } } }""",
        {"id": campaign_id},
        shop.token,
    )
    made = flight["campaign"]["makegoodOffers"][0]["makegoodCampaign"]
    # then a linked campaign, price 0, books the missing impressions and delivers them
    assert (made["status"], made["budget"]["amount"], made["bookedImpressions"]) == (
        "ACTIVE",
        "0.00",
        20_000,
    )
    assert made["makegoodFor"]["id"] == campaign_id
    now = clock.now().isoformat()
    free = {
        "eventId": "mgf-1",
        "campaignId": made["id"],
        "amount": {"amount": "0.00", "currencyCode": "USD"},
        "impressions": 15_000,
        "occurredAt": now,
    }
    paid = {**free, "eventId": "mgf-2", "amount": {"amount": "1.00", "currencyCode": "USD"}}
    reported = await record_spend(api, [free, paid], shop.adserver.token)
    assert reported["accepted"] == 1
    assert [(r["eventId"], r["reason"]) for r in reported["refused"]] == [("mgf-2", "OVER_BUDGET")]
    delivered = await api.data(
        "query($id: ID!) { campaign(id: $id) { impressions spent { amount } status } }",
        {"id": made["id"]},
        shop.token,
    )
    assert delivered["campaign"] == {
        "impressions": 15_000,
        "spent": {"amount": "0.00"},
        "status": "ACTIVE",
    }
    # and a zero amount on an ordinary campaign is still refused whole
    zero = {**free, "eventId": "mgf-3", "campaignId": campaign_id}
    refused = await api.data(
        """mutation($e: [SpendEventInput!]!) { recordSpend(input: {events: $e}) {
          __typename ... on UserError { code } } }""",
        {"e": [zero]},
        shop.adserver.token,
    )
    assert refused["recordSpend"] == {"__typename": "InvalidInputError", "code": "INVALID_INPUT"}
