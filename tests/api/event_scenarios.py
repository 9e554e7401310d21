"""Partner events (issue 26): the feed read as a partner reads it, the documents that make
each kind of event, and one scenario that drives ONE business center through every event
type a partner may receive (but `webhook_endpoint.disabled` and `test.ping`, which the
webhook machinery makes), for tests that want every type delivered.

    world = await produce_every_event_type(api, users, jobs, webhooks, sessions)
    types = {e["type"] for e in await feed_events(api, world.center.id, world.token)}
    assert types == EVERY_PRODUCED_TYPE

Its arguments are the API fixtures: `api`, `users`, `jobs` (the worker's context, for
complete-campaigns, credit-sweep and renew-subscriptions), `webhooks` (the provider's
signed events: payments, card setup, refunds) and `sessions` (to move a campaign's
flight into the past, which the API refuses, and to give a wallet spend on a past day).
It answers the center, its admin (who reads the feed), its one ad account, its ad server
and a staff member.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.domain.events import EventType
from adledger.domain.runway import utc_day
from adledger.jobs.billing import renew_subscriptions_job
from adledger.jobs.campaigns import complete_campaigns_job, credit_sweep_job
from adledger.jobs.installments import issue_invoices_job
from adledger.schema.ids import db_id_of
from tests.api.allocation_fixtures import enable_allocation, set_budget
from tests.api.campaign_fixtures import Shop, move_flight
from tests.api.installment_fixtures import attach_card, card_campaign, plan_of
from tests.api.installment_fixtures import launch as launch_card
from tests.api.makegood_fixtures import Booked, accept, deliver, offer
from tests.helpers import (
    Api,
    Center,
    User,
    UserFactory,
    campaign_action,
    create_account,
    create_center,
    flight,
    launch,
    new_campaign,
    record_spend,
    spend_event,
    subscribe,
    top_up,
)

EVERY_PRODUCED_TYPE = frozenset(EventType) - {
    EventType.WEBHOOK_ENDPOINT_DISABLED,
    EventType.TEST_PING,
}
"""What `produce_every_event_type` makes: every published type but the webhooks' own."""

# -- the feed ---------------------------------------------------------------------------

FEED = """query($id: ID!, $first: Int, $after: String, $types: [String!]) {
  businessCenter(id: $id) {
    events(first: $first, after: $after, types: $types) {
      edges { cursor node { id type sequence createdAt data businessCenter { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""


async def feed_events(
    api: Api, center_id: str, token: str, types: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every event of the center's feed, page after page, each with its data parsed."""
    found: list[dict[str, Any]] = []
    after = None
    while True:
        variables = {"id": center_id, "first": 100, "after": after, "types": types}
        page = (await api.data(FEED, variables, token))["businessCenter"]["events"]
        found += [{**e["node"], "data": json.loads(e["node"]["data"])} for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


# -- the documents ----------------------------------------------------------------------

REQUEST_REFUND = """mutation($input: RequestRefundInput!) { requestRefund(input: $input) {
  __typename ... on RequestRefundSuccess { refundRequest { id status } }
  ... on UserError { code message } } }"""
APPROVE_REFUND = """mutation($input: ApproveRefundInput!) { approveRefund(input: $input) {
  __typename ... on RefundDecisionSuccess { refundRequest { id status
    refunds { amount { amount } status providerReference } } }
  ... on UserError { code message } } }"""
DECLINE_REFUND = """mutation($input: DeclineRefundInput!) { declineRefund(input: $input) {
  __typename ... on RefundDecisionSuccess { refundRequest { id status note } }
  ... on UserError { code message } } }"""
DECLINE_MAKEGOOD = """mutation($input: DecideMakegoodInput!) { declineMakegood(input: $input) {
  __typename ... on UserError { code message } } }"""
SET_CREDIT_LINE = """mutation($input: SetCreditLineInput!) { setCreditLine(input: $input) {
  __typename ... on UserError { code message field } } }"""
CANCEL_PLAN = """mutation($input: CancelPlanSubscriptionInput!) {
  cancelPlanSubscription(input: $input) { __typename ... on UserError { code message } } }"""
DISCOUNT = """mutation($input: DiscountInvoiceInput!) { discountInvoice(input: $input) {
  __typename ... on UserError { code message } } }"""
VOID = """mutation($input: VoidInvoiceInput!) { voidInvoice(input: $input) {
  __typename ... on UserError { code message } } }"""
CREATE = """mutation($input: CreateCampaignInput!) { createCampaign(input: $input) {
  __typename ... on CreateCampaignSuccess { campaign { id } } ... on UserError { code message } } }"""
SET_AUTO_RECHARGE = """mutation($input: SetAutoRechargeInput!) { setAutoRecharge(input: $input) {
  __typename ... on UserError { code message field } } }"""
SET_ALERTS = """mutation($input: SetBalanceAlertsInput!) { setBalanceAlerts(input: $input) {
  __typename ... on UserError { code message field } } }"""
PERIOD = """query($id: ID!) { businessCenter(id: $id) { subscription { currentPeriodEnd } } }"""


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "USD"}


async def request_refund(
    api: Api, wallet_id: str, amount: str, token: str, key: str | None = None
) -> dict[str, Any]:
    given: dict[str, Any] = {"walletId": wallet_id, "amount": usd(amount)}
    if key is not None:
        given["idempotencyKey"] = key
    return dict((await api.data(REQUEST_REFUND, {"input": given}, token))["requestRefund"])


async def approve_refund(api: Api, request_id: str, staff: User) -> dict[str, Any]:
    given = {"refundRequestId": request_id}
    return dict((await api.data(APPROVE_REFUND, {"input": given}, staff.token))["approveRefund"])


async def decline_refund(api: Api, request_id: str, staff: User) -> dict[str, Any]:
    given = {"refundRequestId": request_id, "reason": "not this time"}
    return dict((await api.data(DECLINE_REFUND, {"input": given}, staff.token))["declineRefund"])


async def settle_refund(webhooks: Any, reference: str, outcome: str, event_id: str) -> str:
    """The provider's word on one refund; answers the webhook's outcome."""
    refund = await webhooks.sandbox.settle_refund(reference, outcome)
    answer = await webhooks.post(webhooks.sandbox.refund_event_payload(refund, event_id))
    return str(answer.json()["outcome"])


async def set_credit_line(
    api: Api, staff: User, center_id: str, limit: str, cycle: str = "CALENDAR_MONTH"
) -> dict[str, Any]:
    given = {"businessCenterId": center_id, "limit": usd(limit), "cycle": cycle}
    return dict((await api.data(SET_CREDIT_LINE, {"input": given}, staff.token))["setCreditLine"])


async def decline_makegood(api: Api, offer_id: str, token: str) -> dict[str, Any]:
    result = await api.data(DECLINE_MAKEGOOD, {"input": {"offerId": offer_id}}, token)
    return dict(result["declineMakegood"])


async def cancel_plan(api: Api, center_id: str, token: str) -> dict[str, Any]:
    given = {"businessCenterId": center_id}
    return dict((await api.data(CANCEL_PLAN, {"input": given}, token))["cancelPlanSubscription"])


async def period_end(api: Api, center: Center) -> datetime:
    found = await api.data(PERIOD, {"id": center.id}, center.admin.token)
    return datetime.fromisoformat(found["businessCenter"]["subscription"]["currentPeriodEnd"])


async def drawn_campaign(
    api: Api, shop: Shop, budget: str, *, booked: int | None = None, launched: bool = True
) -> str:
    """A campaign of the shop's account drawing on its center (automatic allocation),
    GUARANTEED when it books impressions; launched and delivering by default."""
    starts, ends = flight(30)
    given: dict[str, Any] = {
        "adAccountId": shop.account.id,
        "name": "Drawn",
        "budget": usd(budget),
        "startsAt": starts,
        "endsAt": ends,
    }
    if booked is not None:
        given |= {"deliveryType": "GUARANTEED", "bookedImpressions": booked}
    created = (await api.data(CREATE, {"input": given}, shop.token))["createCampaign"]
    assert created["__typename"] == "CreateCampaignSuccess", created
    campaign_id = str(created["campaign"]["id"])
    if launched:
        started = await launch(api, campaign_id, shop.token)
        assert started["campaign"]["status"] == "ACTIVE", started
    return campaign_id


async def ended_and_swept(
    sessions: async_sessionmaker[AsyncSession], jobs: dict[str, Any], campaign_id: str
) -> None:
    """The flight ended 13 hours ago (past the settlement window): completed, settled."""
    now = clock.now()
    ends = now - timedelta(hours=13)
    await move_flight(sessions, campaign_id, ends - timedelta(days=30), ends)
    await complete_campaigns_job(jobs, now)
    await credit_sweep_job(jobs, now)


# -- the scenario -----------------------------------------------------------------------


@dataclass
class EveryEvent:
    """The center `produce_every_event_type` drove, and who drove it."""

    shop: Shop
    staff: User

    @property
    def center(self) -> Center:
        return self.shop.center

    @property
    def token(self) -> str:
        return self.shop.token


async def produce_every_event_type(
    api: Api,
    users: UserFactory,
    jobs: dict[str, Any],
    webhooks: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> EveryEvent:
    """One business center under automatic allocation (its one ad account MONTHLY_
    INVOICING) through every type of EVERY_PRODUCED_TYPE, each at least once. Order
    matters: allocation before any campaign (a PREPAID account would block it), the plan
    renewed before it is canceled, the alerts last."""
    world = await _open(api, users)  # invoice.opened, invoice.paid (the plan)
    await _allocate(api, world)  # ad_account.budget_cap_changed, automatic_allocation.enabled
    line = await set_credit_line(api, world.staff, world.center.id, "500.00")
    assert line["__typename"] == "SetCreditLineSuccess", line  # credit_line.changed
    await _top_ups(api, world, webhooks)  # top_up.paid / failed, invoice.payment_failed
    await _card_plan(api, world, webhooks)  # card.saved, invoice.discounted / voided, credit
    await _refunds(api, world, webhooks)  # refund.requested / approved / declined / ...
    await _campaign_life(api, world)  # campaign.*, spend.applied
    await _makegoods(api, world, jobs, sessions)  # campaign.completed, makegood.*, credit
    await _plan(api, world, jobs)  # plan_subscription.renewed / canceled
    await _recharge_suspended(api, world, jobs, webhooks)  # auto_recharge.suspended
    await _alerts(api, world, sessions)  # balance.low, runway.low
    return world


async def _open(api: Api, users: UserFactory) -> EveryEvent:
    admin = await users.create("admin")
    center = await create_center(api, admin, name="Every event")
    await users.fund(center.wallet_id, "2000.00")
    subscribed = await subscribe(api, center)
    assert subscribed["invoice"]["status"] == "PAID", subscribed
    account = await create_account(api, center, "Drawn account", "MONTHLY_INVOICING")
    await users.fund(account.wallet_id, "100.00")
    adserver = await users.create("adserver", integration=True)
    staff = await users.create("staff", staff=True)
    return EveryEvent(Shop(center, account, admin, adserver), staff)


async def _allocate(api: Api, world: EveryEvent) -> None:
    """Budget Sync caps the account at the 100.00 it moved; its admin lifts the cap."""
    enabled = await enable_allocation(api, world.center.id, world.token)
    assert enabled["__typename"] == "EnableAutomaticAllocationSuccess", enabled
    lifted = await set_budget(api, world.shop.account.id, world.token, "UNLIMITED")
    assert lifted["__typename"] == "SetAdAccountBudgetSuccess", lifted


async def _top_ups(api: Api, world: EveryEvent, webhooks: Any) -> None:
    for amount, outcome in (("100.00", "paid"), ("50.00", "failed")):
        made = await top_up(api, world.center.wallet_id, world.token, amount=amount)
        answer = await webhooks.pay(made["topUp"]["invoice"]["paymentReference"], outcome)
        assert answer.json()["outcome"] == "PROCESSED", answer.json()


async def _card_plan(api: Api, world: EveryEvent, webhooks: Any) -> None:
    """A card saved; an INSTALLMENTS campaign of 1000.00 (its first 333.33 paid at
    launch); staff discount its second installment and void its third; canceled before it
    delivered, what was paid comes back as a CANCELLATION_CREDIT (the discounted
    installment voided)."""
    await attach_card(api, world.shop, webhooks)
    campaign_id = await card_campaign(api, world.shop, budget="1000.00")
    launched = await launch_card(api, world.shop, campaign_id)
    assert launched["__typename"] == "LaunchCampaignSuccess", launched
    invoices = (await plan_of(api, world.shop, campaign_id))["invoices"]
    cut = {"invoiceId": invoices[1]["id"], "amount": usd("33.33"), "reason": "goodwill"}
    discounted = await api.data(DISCOUNT, {"input": cut}, world.staff.token)
    assert discounted["discountInvoice"]["__typename"] == "AdjustInvoiceSuccess", discounted
    voiding = {"invoiceId": invoices[2]["id"], "reason": "goodwill"}
    voided = await api.data(VOID, {"input": voiding}, world.staff.token)
    assert voided["voidInvoice"]["__typename"] == "AdjustInvoiceSuccess", voided
    canceled = await campaign_action(api, "cancelCampaign", campaign_id, world.token)
    assert canceled["__typename"] == "CampaignActionSuccess", canceled


async def _refunds(api: Api, world: EveryEvent, webhooks: Any) -> None:
    """Three requests from the center's cash: one declined, one that goes back to its
    payment, one the provider fails."""
    wallet = world.center.wallet_id
    declined = await request_refund(api, wallet, "20.00", world.token)
    assert declined["__typename"] == "RequestRefundSuccess", declined
    answer = await decline_refund(api, declined["refundRequest"]["id"], world.staff)
    assert answer["__typename"] == "RefundDecisionSuccess", answer
    for n, (amount, outcome) in enumerate((("30.00", "succeeded"), ("10.00", "failed"))):
        requested = await request_refund(api, wallet, amount, world.token)
        approved = await approve_refund(api, requested["refundRequest"]["id"], world.staff)
        assert approved["__typename"] == "RefundDecisionSuccess", approved
        [refund] = approved["refundRequest"]["refunds"]
        settled = await settle_refund(webhooks, refund["providerReference"], outcome, f"evt_e{n}")
        assert settled == "PROCESSED", settled


async def _campaign_life(api: Api, world: EveryEvent) -> None:
    """One campaign launched, paused, resumed and spent to its budget; another rejected."""
    spent = await drawn_campaign(api, world.shop, "50.00")
    for action in ("pauseCampaign", "resumeCampaign"):
        done = await campaign_action(api, action, spent, world.token)
        assert done["__typename"] == "CampaignActionSuccess", done
    reported = await record_spend(
        api, [spend_event("every-1", spent, "50.00")], world.shop.adserver.token
    )
    assert reported["accepted"] == 1, reported
    rejected = await new_campaign(api, world.shop.account, world.token, "50.00")
    assert (await launch(api, rejected, world.token))["__typename"] == "LaunchCampaignSuccess"
    done = await campaign_action(api, "rejectCampaign", rejected, world.staff.token, "creative")
    assert done["__typename"] == "CampaignActionSuccess", done


async def _alerts(api: Api, world: EveryEvent, sessions: async_sessionmaker[AsyncSession]) -> None:
    """The account's wallet (which a drawn campaign spends first; the makegood credit
    went there) spent 1000.00 yesterday, and alerts below 100000.00 (more than it holds)
    and under 90 days of runway (less than one at 250.00 a day): the next spend fires
    both."""
    wallet = world.shop.account.wallet_id
    async with sessions() as session:
        await session.execute(
            text("INSERT INTO wallet_spend_days (wallet_id, day, amount) VALUES (:w, :d, 100000)"),
            {"w": db_id_of(wallet, "Wallet"), "d": utc_day(clock.now()) - timedelta(days=1)},
        )
        await session.commit()
    alerts = [
        {"kind": "BALANCE_BELOW", "threshold": usd("100000.00")},
        {"kind": "RUNWAY_BELOW_DAYS", "days": 90},
    ]
    given = {"walletId": wallet, "alerts": alerts}
    done = (await api.data(SET_ALERTS, {"input": given}, world.token))["setBalanceAlerts"]
    assert done["__typename"] == "WalletSettingsSuccess", done
    campaign_id = await drawn_campaign(api, world.shop, "50.00")
    reported = await record_spend(
        api, [spend_event("every-alert", campaign_id, "20.00")], world.shop.adserver.token
    )
    assert reported["accepted"] == 1, reported


async def _makegoods(
    api: Api, world: EveryEvent, jobs: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A GUARANTEED campaign billed 300.00 for 20,000 of its 100,000 impressions, ended and
    settled; staff offer a credit, declined, then offer it again, accepted: what was
    billed above the delivered value comes back to the center."""
    booked = Booked(
        world.shop, await drawn_campaign(api, world.shop, "500.00", booked=100_000), world.staff
    )
    await deliver(api, booked, "300.00", 20_000, "every-mg")
    await ended_and_swept(sessions, jobs, booked.campaign_id)
    first = await offer(api, booked, "CREDIT")
    assert "id" in first, first
    declined = await decline_makegood(api, first["id"], world.token)
    assert declined["__typename"] == "MakegoodSuccess", declined
    second = await offer(api, booked, "CREDIT")
    accepted = await accept(api, booked, second["id"])
    assert accepted["__typename"] == "MakegoodSuccess", accepted


async def _plan(api: Api, world: EveryEvent, jobs: dict[str, Any]) -> None:
    """The plan renewed at its period's end (paid from the balance), then canceled."""
    await renew_subscriptions_job(jobs, await period_end(api, world.center))
    canceled = await cancel_plan(api, world.center.id, world.token)
    assert canceled["__typename"] == "CancelPlanSubscriptionSuccess", canceled


async def _recharge_suspended(
    api: Api, world: EveryEvent, jobs: dict[str, Any], webhooks: Any
) -> None:
    """A card that declines; the ad account's wallet, already below the threshold of the
    rule set on it, is recharged at once; the charge and its two retries (1 day, then 3
    days later) decline, and the rule is suspended."""
    await attach_card(api, world.shop, webhooks, declining=True)
    rule = {
        "walletId": world.shop.account.wallet_id,
        "threshold": usd("5000.00"),
        "amount": usd("20.00"),
    }
    made = await api.data(SET_AUTO_RECHARGE, {"input": rule}, world.token)
    assert made["setAutoRecharge"]["__typename"] == "WalletSettingsSuccess", made
    soon = clock.now()
    for days in (1.01, 4.02):
        await issue_invoices_job(jobs, soon + timedelta(days=days))
