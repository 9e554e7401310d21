"""subscribeToPlan, cancelPlanSubscription and the renewal job (DESIGN §9)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from adledger import clock
from adledger.domain.errors import PaymentProviderFailed
from adledger.jobs.billing import (
    issue_pending_invoices_job,
    renew_subscriptions_job,
    retry_webhook_events_job,
)
from adledger.jobs.reports import IssueReport, RenewalReport, RetryReport
from adledger.store.models import Invoice
from tests.helpers import SUBSCRIBE, add_member, balance, create_center, subscribe, top_up

CENTER = """query($id: ID!) { businessCenter(id: $id) {
  subscription { plan status currentPeriodStart currentPeriodEnd }
  wallet { balance { cash { amount } } transactions(first: 5, kinds: [SUBSCRIPTION_PAYMENT]) {
    edges { node { amount { amount } invoice { number kind status amountDue { amount } lines { description } } } } } }
} }"""
CANCEL = """mutation($input: CancelPlanSubscriptionInput!) { cancelPlanSubscription(input: $input) {
  __typename ... on CancelPlanSubscriptionSuccess { businessCenter { subscription { status } } }
  ... on UserError { code field } } }"""


async def _center(api, center):
    return (await api.data(CENTER, {"id": center.id}, center.admin.token))["businessCenter"]


async def _funded_center(api, users, amount: str):
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, amount)
    return center


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


async def test_a_plan_paid_from_the_credit_balance_is_active_at_once(api, users) -> None:
    center = await _funded_center(api, users, "300.00")
    result = await subscribe(api, center, "PRO")
    assert result["__typename"] == "SubscribeToPlanSuccess"
    assert result["invoice"]["kind"] == "SUBSCRIPTION"
    assert (result["invoice"]["status"], result["invoice"]["amountDue"]) == (
        "PAID",
        {"amount": "199.00"},
    )
    assert result["invoice"]["paymentReference"] is None  # never went to the provider
    subscription = result["businessCenter"]["subscription"]
    assert (subscription["plan"], subscription["status"]) == ("PRO", "ACTIVE")
    start, end = _at(subscription["currentPeriodStart"]), _at(subscription["currentPeriodEnd"])
    assert 28 <= (end - start).days <= 31
    wallet = (await _center(api, center))["wallet"]
    assert wallet["balance"]["cash"] == {"amount": "101.00"}
    [payment] = wallet["transactions"]["edges"]
    assert payment["node"]["amount"] == {"amount": "-199.00"}
    assert payment["node"]["invoice"]["lines"][0]["description"].startswith("Pro plan, ")


async def test_a_plan_the_balance_cannot_cover_is_invoiced_and_active_once_paid(
    api, users, webhooks
) -> None:
    center = await _funded_center(api, users, "20.00")
    result = await subscribe(api, center, "STARTER")
    invoice = result["invoice"]
    assert (invoice["status"], invoice["amountDue"]) == ("OPEN", {"amount": "49.00"})
    assert invoice["paymentReference"].startswith("in_sandbox_")
    assert result["businessCenter"]["subscription"]["status"] == "INACTIVE"
    await webhooks.pay(invoice["paymentReference"])
    after = await _center(api, center)
    assert after["subscription"]["status"] == "ACTIVE"
    assert after["wallet"]["balance"]["cash"] == {
        "amount": "20.00"
    }  # paid by card, not from the balance


async def test_paying_by_invoice_can_be_chosen_even_with_a_balance(api, users) -> None:
    center = await _funded_center(api, users, "500.00")
    result = await subscribe(api, center, "PRO", from_balance=False)
    assert result["invoice"]["status"] == "OPEN"
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"] == {
        "amount": "500.00"
    }


async def test_renewal_bills_the_next_period_from_the_balance_once(api, users, jobs) -> None:
    center = await _funded_center(api, users, "450.00")
    first = (await subscribe(api, center, "PRO"))["businessCenter"]["subscription"]
    period_end = _at(first["currentPeriodEnd"])
    assert await renew_subscriptions_job(jobs, period_end - timedelta(seconds=1)) == RenewalReport()
    assert await renew_subscriptions_job(jobs, period_end) == RenewalReport(paid_from_balance=1)
    # run twice: no second charge
    assert await renew_subscriptions_job(jobs, period_end) == RenewalReport()
    renewed = await _center(api, center)
    assert renewed["subscription"]["status"] == "ACTIVE"
    assert _at(renewed["subscription"]["currentPeriodStart"]) == period_end
    assert renewed["wallet"]["balance"]["cash"] == {"amount": "52.00"}
    assert len(renewed["wallet"]["transactions"]["edges"]) == 2


async def test_a_renewal_the_balance_cannot_cover_waits_for_its_invoice(
    api, users, jobs, webhooks, sessions
) -> None:
    # given a PRO plan whose renewal the remaining 51.00 cannot pay
    center = await _funded_center(api, users, "250.00")
    period_end = _at(
        (await subscribe(api, center, "PRO"))["businessCenter"]["subscription"]["currentPeriodEnd"]
    )
    # when the period ends
    assert await renew_subscriptions_job(jobs, period_end) == RenewalReport(invoiced=1)
    # then the plan lapses until the renewal invoice is paid, and top-ups are refused
    assert (await _center(api, center))["subscription"]["status"] == "INACTIVE"
    refused = await top_up(api, center.wallet_id, center.admin.token, amount="500.00")
    assert refused["code"] == "SUBSCRIPTION_REQUIRED"
    # and funds arriving later never pay the invoice that was already open
    await users.fund(center.wallet_id, "1000.00")
    async with sessions() as session:
        renewal = await session.scalar(
            select(Invoice).where(Invoice.kind == "SUBSCRIPTION").order_by(Invoice.id.desc())
        )
    assert (renewal.status, renewal.payment_reference is not None) == ("OPEN", True)
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "1051.00"
    # until the customer pays it
    await webhooks.pay(renewal.payment_reference)
    assert (await _center(api, center))["subscription"]["status"] == "ACTIVE"


async def test_cancel_takes_effect_at_period_end_and_then_blocks_top_ups(api, users, jobs) -> None:
    center = await _funded_center(api, users, "300.00")
    period_end = _at(
        (await subscribe(api, center, "PRO"))["businessCenter"]["subscription"]["currentPeriodEnd"]
    )
    canceled = await api.data(
        CANCEL, {"input": {"businessCenterId": center.id}}, center.admin.token
    )
    assert (
        canceled["cancelPlanSubscription"]["businessCenter"]["subscription"]["status"]
        == "CANCELS_AT_PERIOD_END"
    )
    allowed = await top_up(api, center.wallet_id, center.admin.token, amount="20.00")
    assert allowed["__typename"] == "TopUpWalletSuccess"  # still paid up until the period ends
    await renew_subscriptions_job(jobs, period_end)
    after = await _center(api, center)
    assert after["subscription"]["status"] == "INACTIVE"
    assert after["wallet"]["balance"]["cash"] == {"amount": "101.00"}  # the balance is kept
    refused = await top_up(api, center.wallet_id, center.admin.token, amount="20.00")
    assert refused["code"] == "SUBSCRIPTION_REQUIRED"


async def test_an_inactive_center_may_subscribe_again(api, users, jobs) -> None:
    center = await _funded_center(api, users, "500.00")
    period_end = _at(
        (await subscribe(api, center, "STARTER"))["businessCenter"]["subscription"][
            "currentPeriodEnd"
        ]
    )
    await api.data(CANCEL, {"input": {"businessCenterId": center.id}}, center.admin.token)
    await renew_subscriptions_job(jobs, period_end)
    again = (await subscribe(api, center, "PRO"))["businessCenter"]["subscription"]
    assert (again["plan"], again["status"]) == ("PRO", "ACTIVE")


async def test_subscription_mistakes_are_typed_errors(api, users) -> None:
    center = await _funded_center(api, users, "500.00")
    no_plan = await api.data(CANCEL, {"input": {"businessCenterId": center.id}}, center.admin.token)
    assert no_plan["cancelPlanSubscription"]["code"] == "INVALID_STATE"
    await subscribe(api, center, "PRO")
    twice = await subscribe(api, center, "STARTER")
    assert (twice["code"], twice["field"]) == ("INVALID_STATE", ["input", "businessCenterId"])
    standard = await users.create("standard")
    await add_member(api, center, standard, "STANDARD")
    variables = {"input": {"businessCenterId": center.id, "plan": "PRO"}}
    forbidden = (await api.data(SUBSCRIBE, variables, standard.token))["subscribeToPlan"]
    assert forbidden["code"] == "FORBIDDEN"
    stranger = await users.create("stranger")
    assert (await api.data(SUBSCRIBE, variables, stranger.token))["subscribeToPlan"][
        "code"
    ] == "NOT_FOUND"


async def test_a_failed_event_is_kept_and_the_retry_job_applies_it(
    api, users, webhooks, app_provider, jobs
) -> None:
    center = await _funded_center(api, users, "300.00")
    await subscribe(api, center, "PRO")
    pending = await top_up(api, center.wallet_id, center.admin.token, amount="80.00")
    reference = pending["topUp"]["invoice"]["paymentReference"]
    real_retrieve = app_provider.retrieve_invoice

    async def down(_reference: str):
        raise PaymentProviderFailed("Stripe is down")

    app_provider.retrieve_invoice = down
    response = await webhooks.pay(reference)
    assert response.json()["outcome"] == "FAILED"
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "101.00"
    app_provider.retrieve_invoice = real_retrieve
    assert await retry_webhook_events_job(jobs, clock.now()) == RetryReport({"PROCESSED": 1})
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "181.00"
    assert await retry_webhook_events_job(jobs, clock.now()) == RetryReport()


async def test_the_job_issues_a_keyed_top_up_the_provider_missed(
    api, users, app_provider, jobs
) -> None:
    center = await _funded_center(api, users, "300.00")
    await subscribe(api, center, "PRO")
    app_provider.fail_next(1)
    failed = await top_up(api, center.wallet_id, center.admin.token, amount="80.00", key="k1")
    assert failed["__typename"] == "PaymentProviderError"
    later = clock.now() + timedelta(minutes=5)
    assert await issue_pending_invoices_job(jobs, later) == IssueReport(issued=1)
    query = "query($id: ID!) { wallet(id: $id) { pendingTopUps { invoice { paymentReference } } } }"
    [pending] = (await api.data(query, {"id": center.wallet_id}, center.admin.token))["wallet"][
        "pendingTopUps"
    ]
    assert pending["invoice"]["paymentReference"].startswith("in_sandbox_")


async def test_a_stranger_sees_no_invoice_and_cannot_cancel(api, users) -> None:
    center = await _funded_center(api, users, "300.00")
    invoice_id = (await subscribe(api, center, "PRO"))["invoice"]["id"]
    stranger = await users.create("stranger")
    query = "query($id: ID!) { invoice(id: $id) { number } node(id: $id) { id } }"
    assert await api.data(query, {"id": invoice_id}, stranger.token) == {
        "invoice": None,
        "node": None,
    }
    assert (await api.data(query, {"id": invoice_id}, center.admin.token))["invoice"]["number"]
    canceled = await api.data(CANCEL, {"input": {"businessCenterId": center.id}}, stranger.token)
    assert canceled["cancelPlanSubscription"]["code"] == "NOT_FOUND"
    body = await api.post(query, {"id": invoice_id})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
