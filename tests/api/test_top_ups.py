"""topUpWallet and the Stripe webhooks that credit it (DESIGN §5)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from adledger import clock
from adledger.app.settings import SANDBOX_WEBHOOK_SECRET
from adledger.payments.port import ProviderInvoice
from adledger.payments.signing import sign_payload
from adledger.store.models import Invoice, WebhookEvent
from tests.helpers import balance, create_account, create_center, subscribe, top_up

WALLET = """query($id: ID!) { wallet(id: $id) {
  balance { cash { amount } available { amount } }
  pendingTopUps { id status amount { amount } invoice { number paymentReference } }
  transactions(first: 10, kinds: [TOP_UP]) { edges { node { kind amount { amount } balanceAfter { amount } invoice { number kind status } } } }
} }"""


@pytest.fixture
async def center(api, users):
    """A business center with an active PRO plan paid from a 399.00 balance: 200.00 left."""
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "399.00")
    subscribed = await subscribe(api, center)
    assert subscribed["__typename"] == "SubscribeToPlanSuccess", subscribed
    return center


async def _wallet(api, center, wallet_id=None):
    return (await api.data(WALLET, {"id": wallet_id or center.wallet_id}, center.admin.token))[
        "wallet"
    ]


async def test_the_seed_example_200_to_1000_invoices_800_and_credits_on_payment(
    api, center, webhooks
) -> None:
    # given a balance of 200.00
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "200.00"
    # when the customer tops up to 1000.00
    result = await top_up(api, center.wallet_id, center.admin.token, target="1000.00")
    # then the invoice asks for 800.00 and the balance waits for the payment
    assert result["__typename"] == "TopUpWalletSuccess", result
    pending = result["topUp"]
    assert pending["status"] == "AWAITING_PAYMENT"
    assert pending["amount"] == {"amount": "800.00", "currencyCode": "USD"}
    assert pending["targetBalance"] == {"amount": "1000.00"}
    invoice = pending["invoice"]
    assert (invoice["kind"], invoice["status"], invoice["amountDue"]) == (
        "TOP_UP",
        "OPEN",
        {"amount": "800.00"},
    )
    assert invoice["number"] == f"INV-{clock.now().year}-000002"  # the plan's invoice was the first
    assert invoice["paymentReference"].startswith("in_sandbox_")
    assert invoice["lines"] == [
        {"description": "Credit balance top-up", "amount": {"amount": "800.00"}}
    ]
    before = await _wallet(api, center)
    assert before["balance"]["cash"] == {"amount": "200.00"}
    assert [t["id"] for t in before["pendingTopUps"]] == [pending["id"]]
    # when Stripe reports the invoice paid, through a signed webhook
    response = await webhooks.pay(invoice["paymentReference"])
    # then the balance is 1000.00, once
    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "PROCESSED"}
    after = await _wallet(api, center)
    assert after["balance"]["cash"] == {"amount": "1000.00"}
    assert after["pendingTopUps"] == []
    assert [e["node"] for e in after["transactions"]["edges"]] == [
        {
            "kind": "TOP_UP",
            "amount": {"amount": "800.00"},
            "balanceAfter": {"amount": "1000.00"},
            "invoice": {
                "number": f"INV-{clock.now().year}-000002",
                "kind": "TOP_UP",
                "status": "PAID",
            },
        }
    ]


async def test_the_same_paid_event_ten_times_at_once_credits_once(
    api, center, webhooks, sessions
) -> None:
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    reference = result["topUp"]["invoice"]["paymentReference"]
    invoice, event_type = await webhooks.sandbox.settle(reference, "paid")
    payload = webhooks.payload(invoice, event_type, "evt_same")
    responses = await asyncio.gather(*(webhooks.post(payload) for _ in range(10)))
    assert all(r.status_code == 200 for r in responses)
    assert sorted(r.json()["outcome"] for r in responses) == ["DUPLICATE"] * 9 + ["PROCESSED"]
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "250.00"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == 1


async def test_two_different_paid_events_for_one_invoice_credit_once(api, center, webhooks) -> None:
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    reference = result["topUp"]["invoice"]["paymentReference"]
    await webhooks.pay(reference)
    again = await webhooks.send(reference, "invoice.paid", "evt_other_id")
    assert again.json()["outcome"] == "PROCESSED"
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "250.00"


async def test_a_payment_failure_arriving_after_the_payment_leaves_it_paid(
    api, center, webhooks
) -> None:
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    reference = result["topUp"]["invoice"]["paymentReference"]
    await webhooks.pay(reference)
    late = await webhooks.send(reference, "invoice.payment_failed")
    assert late.status_code == 200
    query = (
        "query($id: ID!) { node(id: $id) { ... on TopUp { status paidAt invoice { status } } } }"
    )
    node = (await api.data(query, {"id": result["topUp"]["id"]}, center.admin.token))["node"]
    assert (node["status"], node["invoice"]["status"]) == ("PAID", "PAID")
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "250.00"


async def test_a_failed_payment_credits_nothing_and_a_later_payment_still_counts(
    api, center, webhooks
) -> None:
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    reference = result["topUp"]["invoice"]["paymentReference"]
    query = "query($id: ID!) { node(id: $id) { ... on TopUp { status } } }"
    await webhooks.pay(reference, "failed")
    assert (await api.data(query, {"id": result["topUp"]["id"]}, center.admin.token))["node"] == {
        "status": "FAILED"
    }
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "200.00"
    await webhooks.pay(reference, "paid")
    assert (await api.data(query, {"id": result["topUp"]["id"]}, center.admin.token))["node"] == {
        "status": "PAID"
    }
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "250.00"


async def test_a_voided_invoice_cancels_the_top_up(api, center, webhooks) -> None:
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    reference = result["topUp"]["invoice"]["paymentReference"]
    await webhooks.sandbox.void_invoice(reference, "test:void")
    response = await webhooks.send(reference, "invoice.voided")
    assert response.json()["outcome"] == "PROCESSED"
    wallet = await _wallet(api, center)
    assert wallet["pendingTopUps"] == []
    assert wallet["balance"]["cash"] == {"amount": "200.00"}


async def test_a_paid_amount_that_differs_from_the_invoice_is_flagged_not_credited(
    api, center, webhooks, sessions, app_provider
) -> None:
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    reference = result["topUp"]["invoice"]["paymentReference"]
    await webhooks.sandbox.settle(reference, "paid")
    real = await webhooks.sandbox.retrieve_invoice(reference)
    short = ProviderInvoice(
        real.reference, "paid", real.currency, real.amount_due, 4000, metadata=real.metadata
    )

    async def underpaid(_reference: str) -> ProviderInvoice:
        return short

    app_provider.retrieve_invoice = underpaid
    await webhooks.send(reference, "invoice.paid")
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "200.00"
    async with sessions() as session:
        flagged = await session.scalar(
            select(Invoice.flag_reason).where(Invoice.payment_reference == reference)
        )
    assert flagged == "paid 40.00 USD, invoiced 50.00 USD"
    assert [t["status"] for t in (await _wallet(api, center))["pendingTopUps"]] == [
        "AWAITING_PAYMENT"
    ]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("body", "tampered"),
        ("secret", "wrong secret"),
        ("stale", "stale timestamp"),
        ("missing", "no header"),
    ],
)
async def test_a_badly_signed_event_is_refused_and_nothing_is_stored(
    api, center, webhooks, sessions, tamper, reason
) -> None:
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    reference = result["topUp"]["invoice"]["paymentReference"]
    invoice, event_type = await webhooks.sandbox.settle(reference, "paid")
    payload = webhooks.payload(invoice, event_type)
    if tamper == "body":
        other = webhooks.sandbox.event_payload(invoice, event_type, "evt_other")
        signature = sign_payload(other, SANDBOX_WEBHOOK_SECRET, int(time.time()))
        response = await webhooks.post(payload, signature=signature)
    elif tamper == "secret":
        response = await webhooks.post(payload, secret="whsec_not_ours")
    elif tamper == "stale":
        response = await webhooks.post(payload, timestamp=int(time.time()) - 3600)
    else:
        response = await api.client.post("/webhooks/stripe", content=payload)
    assert response.status_code == 400, reason
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert (await balance(api, center.wallet_id, center.admin.token))["cash"]["amount"] == "200.00"


async def test_an_unknown_event_type_is_acknowledged_and_ignored(api, center, webhooks) -> None:
    payload = b'{"id": "evt_x", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}'
    response = await webhooks.post(payload)
    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "IGNORED"}


async def test_a_provider_outage_without_a_key_leaves_no_top_up_behind(
    api, center, app_provider
) -> None:
    app_provider.fail_next(1)
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    assert (result["__typename"], result["code"]) == (
        "PaymentProviderError",
        "PAYMENT_PROVIDER_ERROR",
    )
    wallet = await _wallet(api, center)
    assert wallet["pendingTopUps"] == []
    assert wallet["balance"]["cash"] == {"amount": "200.00"}


async def test_a_provider_outage_with_a_key_is_completed_by_the_retry(
    api, center, app_provider
) -> None:
    app_provider.fail_next(1, after_create=True)
    first = await top_up(api, center.wallet_id, center.admin.token, amount="50.00", key="topup-1")
    assert first["__typename"] == "PaymentProviderError"
    retried = await top_up(api, center.wallet_id, center.admin.token, amount="50.00", key="topup-1")
    assert retried["__typename"] == "TopUpWalletSuccess"
    assert retried["topUp"]["invoice"]["paymentReference"].startswith("in_sandbox_")
    assert len((await _wallet(api, center))["pendingTopUps"]) == 1


async def test_target_top_ups_count_what_is_already_on_its_way(api, center) -> None:
    first = await top_up(api, center.wallet_id, center.admin.token, target="500.00")
    assert first["topUp"]["amount"]["amount"] == "300.00"
    second = await top_up(api, center.wallet_id, center.admin.token, target="500.00")
    assert second["__typename"] == "TargetAlreadyCoveredError"
    assert second["covered"] == {"amount": "500.00"}
    assert second["field"] == ["input", "targetBalance"]


@pytest.mark.parametrize(
    ("kwargs", "typename", "field"),
    [
        ({"amount": "5.00"}, "AmountBelowMinimumError", ["input", "amount", "amount"]),
        ({"amount": "0.00"}, "InvalidInputError", ["input", "amount", "amount"]),
        ({"amount": "10.001"}, "InvalidInputError", ["input", "amount", "amount"]),
        (
            {"amount": "10.00", "currency": "EUR"},
            "CurrencyMismatchError",
            ["input", "amount", "currencyCode"],
        ),
        ({"amount": "10.00", "target": "900.00"}, "InvalidInputError", ["input"]),
        ({}, "InvalidInputError", ["input"]),
    ],
)
async def test_bad_top_ups_get_a_typed_error_and_invoice_nothing(
    api, center, kwargs, typename, field
) -> None:
    result = await top_up(api, center.wallet_id, center.admin.token, **kwargs)
    assert (result["__typename"], result["field"]) == (typename, field)
    if typename == "AmountBelowMinimumError":
        assert result["minimum"] == {"amount": "10.00", "currencyCode": "USD"}
    assert (await _wallet(api, center))["pendingTopUps"] == []


async def test_a_top_up_needs_an_active_subscription(api, users) -> None:
    center = await create_center(api, await users.create("admin"))
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    assert result["code"] == "SUBSCRIPTION_REQUIRED"


async def test_an_analyst_may_not_top_up_and_a_stranger_is_told_not_found(
    api, users, center
) -> None:
    from tests.helpers import add_member

    analyst = await users.create("analyst")
    await add_member(api, center, analyst, "FINANCE_ANALYST")
    assert (await top_up(api, center.wallet_id, analyst.token, amount="50.00"))[
        "code"
    ] == "FORBIDDEN"
    stranger = await users.create("stranger")
    assert (await top_up(api, center.wallet_id, stranger.token, amount="50.00"))[
        "code"
    ] == "NOT_FOUND"


async def test_new_funds_never_pay_an_invoice_that_was_already_open(api, center, webhooks) -> None:
    first = await top_up(api, center.wallet_id, center.admin.token, amount="40.00")
    second = await top_up(api, center.wallet_id, center.admin.token, amount="60.00")
    await webhooks.pay(second["topUp"]["invoice"]["paymentReference"])
    wallet = await _wallet(api, center)
    assert wallet["balance"]["cash"] == {"amount": "260.00"}
    assert [(t["id"], t["status"]) for t in wallet["pendingTopUps"]] == [
        (first["topUp"]["id"], "AWAITING_PAYMENT")
    ]


async def test_an_ad_account_wallet_can_be_topped_up_too(api, center, webhooks) -> None:
    account = await create_account(api, center)
    result = await top_up(api, account.wallet_id, center.admin.token, amount="25.00")
    await webhooks.pay(result["topUp"]["invoice"]["paymentReference"])
    assert (await balance(api, account.wallet_id, center.admin.token))["cash"]["amount"] == "25.00"


async def test_invoice_numbers_have_no_gaps_under_concurrency(
    api, center, app_provider, sessions
) -> None:
    app_provider.fail_next(1)  # one top-up fails at the provider: its number stays, as VOID
    results = await asyncio.gather(
        *(
            top_up(api, center.wallet_id, center.admin.token, amount=f"{10 + i}.00")
            for i in range(8)
        )
    )
    assert sum(r["__typename"] == "PaymentProviderError" for r in results) == 1
    async with sessions() as session:
        rows = (
            await session.execute(select(Invoice.number, Invoice.status).order_by(Invoice.number))
        ).all()
    assert [number for number, _ in rows] == [
        f"INV-{clock.now().year}-{n:06d}" for n in range(1, 10)
    ]
    assert sorted(status for _, status in rows) == ["OPEN"] * 7 + ["PAID", "VOID"]
