"""Given: a GUARANTEED campaign booking 100,000 impressions, launched from the credit
balance, with some delivery reported; and the makegood, cancellation and sweep steps the
order tests combine (issue 23, DESIGN §9 "Conservation per campaign")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.jobs.campaigns import complete_campaigns_job, credit_sweep_job
from tests.api.campaign_fixtures import Shop, move_flight, open_shop
from tests.api.installment_fixtures import card_campaign, launch
from tests.helpers import Api, User, UserFactory, campaign_action, record_spend, top_up

BOOKED = 100_000

OFFER = """
mutation($input: OfferMakegoodInput!) { offerMakegood(input: $input) {
  __typename
  ... on MakegoodSuccess { campaign { makegoodOffers { id kind status amount { amount } } } }
  ... on UserError { code message } } }"""
ACCEPT = """
mutation($input: DecideMakegoodInput!) { acceptMakegood(input: $input) {
  __typename
  ... on MakegoodSuccess { campaign { makegoodOffers { status amount { amount } } } }
  ... on UserError { code message } } }"""
BALANCE = "query($id: ID!) { wallet(id: $id) { balance { cash { amount } vouchers { amount } } } }"
MONEY = """query($id: ID!) { campaign(id: $id) { status budget { amount } spent { amount }
  funded { amount } credited { amount } madeGoodFromReserve { amount }
  madeGoodFromRevenue { amount } } }"""
SENT = """{ refundRequests(status: SENT) { edges { node { reason amount { amount } } } } }"""
MOVES = """query($id: ID!) { wallet(id: $id) { transactions(first: 50) { edges { node {
  kind bucket amount { amount } description } } } } }"""


@dataclass
class Booked:
    shop: Shop
    campaign_id: str
    staff: User


async def booked_campaign(
    api: Api,
    users: UserFactory,
    *,
    budget: str = "500.00",
    spend: str | None = "100.00",
    impressions: int = 20_000,
    webhooks: Any = None,
    vouchers: str | None = None,
) -> Booked:
    """The budget comes into the account as `vouchers` and the rest as cash (paid by card
    through a top-up when `webhooks` is given, so a refund has a payment to go back to),
    then all of it into the campaign's reserve at launch (vouchers first)."""
    cash = f"{Decimal(budget) - Decimal(vouchers or '0'):.2f}"
    shop = await open_shop(api, users, cash="0.00" if webhooks else cash)
    if vouchers is not None:
        await grant(api, users, shop.account.wallet_id, vouchers)
    if webhooks is not None:
        made = await top_up(api, shop.account.wallet_id, shop.token, amount=cash)
        await webhooks.pay(made["topUp"]["invoice"]["paymentReference"])
    campaign_id = await card_campaign(
        api, shop, budget=budget, plan="CREDIT_BALANCE", delivery="GUARANTEED", booked=BOOKED
    )
    launched = await launch(api, shop, campaign_id)
    assert launched["campaign"]["status"] == "ACTIVE", launched
    booked = Booked(shop, campaign_id, await users.create("billing", staff=True))
    if spend is not None:
        await deliver(api, booked, spend, impressions, "d-1")
    return booked


GRANT = """mutation($input: GrantVouchersInput!) { grantVouchers(input: $input) {
  __typename ... on UserError { code message } } }"""


async def grant(api: Api, users: UserFactory, wallet_id: str, amount: str) -> None:
    staff = await users.create("voucher-staff", staff=True)
    given = {"walletId": wallet_id, "amount": {"amount": amount, "currencyCode": "USD"},
             "reason": "test credits"}  # fmt: skip
    result = (await api.data(GRANT, {"input": given}, staff.token))["grantVouchers"]
    assert result["__typename"] == "GrantVouchersSuccess", result


async def deliver(api: Api, booked: Booked, amount: str, impressions: int, event_id: str) -> None:
    event = {
        "eventId": event_id,
        "campaignId": booked.campaign_id,
        "amount": {"amount": amount, "currencyCode": "USD"},
        "impressions": impressions,
        "occurredAt": clock.now().isoformat(),
    }
    reported = await record_spend(api, [event], booked.shop.adserver.token)
    assert (reported["accepted"], reported["refused"]) == (1, []), reported


async def offer(api: Api, booked: Booked, kind: str) -> dict[str, Any]:
    """The offer made, or the error."""
    variables = {"input": {"campaignId": booked.campaign_id, "kind": kind, "note": "short"}}
    made = (await api.data(OFFER, variables, booked.staff.token))["offerMakegood"]
    if made["__typename"] != "MakegoodSuccess":
        return dict(made)
    return dict(made["campaign"]["makegoodOffers"][-1])


async def accept(api: Api, booked: Booked, offer_id: str) -> dict[str, Any]:
    variables = {"input": {"offerId": offer_id}}
    return dict((await api.data(ACCEPT, variables, booked.shop.token))["acceptMakegood"])


async def made_good(api: Api, booked: Booked, kind: str) -> str:
    """Offered and accepted: the amount offered."""
    made = await offer(api, booked, kind)
    assert "id" in made, made
    accepted = await accept(api, booked, made["id"])
    assert accepted["__typename"] == "MakegoodSuccess", accepted
    return str(made["amount"]["amount"])


async def cancel(api: Api, booked: Booked) -> None:
    result = await campaign_action(api, "cancelCampaign", booked.campaign_id, booked.shop.token)
    assert result["__typename"] == "CampaignActionSuccess", result


async def end_and_sweep(
    sessions: async_sessionmaker[AsyncSession], jobs: dict[str, Any], booked: Booked
) -> None:
    """The flight ended 13 hours ago (past the settlement window): completed, then swept."""
    now = clock.now()
    ends = now - timedelta(hours=13)
    await move_flight(sessions, booked.campaign_id, ends - timedelta(days=30), ends)
    await complete_campaigns_job(jobs, now)
    await credit_sweep_job(jobs, now)


async def cash(api: Api, booked: Booked) -> str:
    found = await api.data(BALANCE, {"id": booked.shop.account.wallet_id}, booked.shop.token)
    return str(found["wallet"]["balance"]["cash"]["amount"])


async def balance(api: Api, booked: Booked) -> dict[str, str]:
    found = await api.data(BALANCE, {"id": booked.shop.account.wallet_id}, booked.shop.token)
    return {bucket: value["amount"] for bucket, value in found["wallet"]["balance"].items()}


async def money(api: Api, booked: Booked) -> dict[str, str]:
    found = (await api.data(MONEY, {"id": booked.campaign_id}, booked.shop.token))["campaign"]
    return {k: (v["amount"] if isinstance(v, dict) else v) for k, v in found.items()}


async def refunds_sent(api: Api, booked: Booked) -> list[tuple[str, str]]:
    found = await api.data(SENT, None, booked.staff.token)
    nodes = [edge["node"] for edge in found["refundRequests"]["edges"]]
    return [(node["reason"], node["amount"]["amount"]) for node in nodes]


async def credits(api: Api, booked: Booked) -> list[tuple[str, str, str]]:
    """What came back into the account's wallet, oldest first: kind, bucket, amount."""
    found = await api.data(MOVES, {"id": booked.shop.account.wallet_id}, booked.shop.token)
    nodes = [edge["node"] for edge in found["wallet"]["transactions"]["edges"]]
    paid_in = ("ADJUSTMENT", "TOP_UP")
    back = [n for n in nodes if n["amount"]["amount"][0] != "-" and n["kind"] not in paid_in]
    return [(n["kind"], n["bucket"], n["amount"]["amount"]) for n in reversed(back)]
