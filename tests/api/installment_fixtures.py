"""Given: a subscribed business center with a card on file (or not), and campaigns paid
by card (INSTALLMENTS or PREPAY)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from adledger import clock
from adledger.schema.ids import db_id_of
from tests.api.campaign_fixtures import Shop, open_shop
from tests.helpers import CAMPAIGN_FIELDS, Api, UserFactory, flight

CREATE = (
    """
mutation($input: CreateCampaignInput!) {
  createCampaign(input: $input) {
    __typename
    ... on CreateCampaignSuccess { campaign { ...CampaignFields paymentPlan } }
    ... on UserError { code message field }
  }
}"""
    + CAMPAIGN_FIELDS
)
LAUNCH = """
mutation($input: LaunchCampaignInput!) {
  launchCampaign(input: $input) {
    __typename
    ... on LaunchCampaignSuccess { campaign { id status funded { amount } } }
    ... on UserError { code message field }
  }
}"""
PLAN = """
query($id: ID!) { campaign(id: $id) {
  status funded { amount } spent { amount } credited { amount } budget { amount }
  invoices(first: 50) { edges { node {
    id number kind status installmentNumber installmentCount issueOn paidAt
    subtotal { amount } discount { amount } amountDue { amount } paymentReference
  } } }
} }"""
SETUP = """
mutation($input: CreateCardSetupInput!) {
  createCardSetup(input: $input) { __typename ... on CreateCardSetupSuccess { setupReference } }
}"""


async def card_shop(
    api: Api, users: UserFactory, webhooks: Any, *, declining: bool = False
) -> Shop:
    shop = await open_shop(api, users)
    await attach_card(api, shop, webhooks, declining=declining)
    return shop


async def attach_card(api: Api, shop: Shop, webhooks: Any, *, declining: bool = False) -> None:
    """The browser step (Stripe.js) played by the sandbox, then the provider's event."""
    started = await api.data(SETUP, {"input": {"businessCenterId": shop.center.id}}, shop.token)
    reference = started["createCardSetup"]["setupReference"]
    setup, _ = await webhooks.sandbox.confirm_card_setup(reference, declining=declining)
    webhooks.sent += 1
    payload = webhooks.sandbox.setup_event_payload(setup, f"evt_setup_{webhooks.sent}")
    assert (await webhooks.post(payload)).json()["outcome"] == "PROCESSED"


async def card_campaign(
    api: Api,
    shop: Shop,
    *,
    budget: str = "1000.00",
    days: int = 30,
    plan: str = "INSTALLMENTS",
    delivery: str = "IF_AVAILABLE",
    starts_in_days: float = -1,
    booked: int = 100_000,
) -> str:
    starts, ends = flight(days, starts_in_days=starts_in_days)
    variables = {
        "input": {
            "adAccountId": shop.account.id,
            "name": "Billboard run",
            "budget": {"amount": budget, "currencyCode": "USD"},
            "startsAt": starts,
            "endsAt": ends,
            "paymentPlan": plan,
            "deliveryType": delivery,
        }
    }
    if delivery == "GUARANTEED":
        variables["input"]["bookedImpressions"] = booked
    created = (await api.data(CREATE, variables, shop.token))["createCampaign"]
    assert created["__typename"] == "CreateCampaignSuccess", created
    return str(created["campaign"]["id"])


async def launch(api: Api, shop: Shop, campaign_id: str) -> dict[str, Any]:
    variables = {"input": {"campaignId": campaign_id}}
    return dict((await api.data(LAUNCH, variables, shop.token))["launchCampaign"])


async def plan_of(api: Api, shop: Shop, campaign_id: str) -> dict[str, Any]:
    found = (await api.data(PLAN, {"id": campaign_id}, shop.token))["campaign"]
    invoices = [edge["node"] for edge in found["invoices"]["edges"]]
    found["invoices"] = sorted(invoices, key=lambda i: i["installmentNumber"])
    return dict(found)


def db_id(campaign_id: str) -> int:
    found = db_id_of(campaign_id, "Campaign")
    assert found is not None
    return found


def days_from_now(days: float) -> datetime:
    return clock.now() + timedelta(days=days)
