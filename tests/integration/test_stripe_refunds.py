"""Refunds through StripeProvider: the payment an invoice was paid with, refunds of it.

Most tests run against `tests.stripe_fake.StripeFake`, which keeps state and honours
idempotency keys as Stripe does; shapes the fake never produces (an invoice answered
without `payments`, several payments, expanded objects, every refund status) come from
plain pytest-httpserver answers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from pytest_httpserver import HTTPServer

from adledger.domain.errors import PaymentProviderFailed
from adledger.payments.port import (
    CardSetupRequest,
    InvoiceRequest,
    ProviderInvoice,
    ProviderRefund,
    RefundRequest,
)
from adledger.payments.stripe_provider import StripeProvider
from tests.stripe_fake import StripeFake

API_KEY = "sk_test_adledgerFakeKey0123456789"
PAY = "/v1/invoices/{id}/pay"
REFUNDS = "/v1/refunds"
PAYMENT_INTENT_RE = r"pi_[0-9a-f]{24}"


@pytest.fixture
def fake(httpserver: HTTPServer) -> Iterator[StripeFake]:
    stripe_fake = StripeFake(httpserver)
    yield stripe_fake
    stripe_fake.check()


@pytest.fixture
async def provider(httpserver: HTTPServer) -> AsyncIterator[StripeProvider]:
    base = f"http://{httpserver.host}:{httpserver.port}"
    async with StripeProvider(API_KEY, api_base=base, max_network_retries=0) as stripe_provider:
        yield stripe_provider


async def open_invoice(provider: StripeProvider, fake: StripeFake) -> tuple[ProviderInvoice, str]:
    """An open charge_automatically invoice of 800.00 USD and a saved card to pay it."""
    customer = fake.add_customer()
    setup = await provider.create_card_setup(CardSetupRequest("card-setup:3", customer))
    card = fake.confirm_setup(setup.reference)
    invoice = await provider.create_invoice(
        InvoiceRequest(
            key="topup:12",
            customer_reference=customer,
            currency="USD",
            amount_minor=80000,
            description="Credit balance top-up",
            metadata={"topup_id": "12"},
            charge_automatically=True,
        )
    )
    return invoice, card


async def paid_invoice(provider: StripeProvider, fake: StripeFake) -> ProviderInvoice:
    """An invoice of 800.00 USD paid with a saved card."""
    invoice, card = await open_invoice(provider, fake)
    return await provider.charge_invoice(invoice.reference, card, "topup:12")


def refund_request(
    payment: str, amount: int = 30000, key: str = "refund:12:lot:3"
) -> RefundRequest:
    return RefundRequest(
        key=key,
        payment_reference=payment,
        amount_minor=amount,
        currency="USD",
        metadata={"refund_id": "12"},
    )


def refund_json(status: str = "succeeded", **extra: Any) -> dict[str, Any]:
    return {
        "id": "re_1",
        "object": "refund",
        "amount": 30000,
        "currency": "usd",
        "payment_intent": "pi_1",
        "status": status,
        "metadata": {"refund_id": "12"},
        **extra,
    }


def invoice_json(**extra: Any) -> dict[str, Any]:
    return {
        "id": "in_1",
        "object": "invoice",
        "status": "paid",
        "currency": "usd",
        "amount_due": 80000,
        "amount_paid": 80000,
        **extra,
    }


def invoice_payment(status: str, payment_intent: object) -> dict[str, Any]:
    return {
        "id": f"inpay_{status}",
        "object": "invoice_payment",
        "status": status,
        "amount_paid": 80000 if status == "paid" else None,
        "payment": {"type": "payment_intent", "payment_intent": payment_intent},
    }


# The payment of an invoice ------------------------------------------------------------


async def test_a_charged_invoice_answers_the_payment_intent_that_paid_it(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given an open invoice, which no payment has paid yet
    invoice, card = await open_invoice(provider, fake)
    assert invoice.payment_reference is None

    # When it is charged with the saved card
    paid = await provider.charge_invoice(invoice.reference, card, "topup:12")

    # Then the pay asked for the invoice's payments, and the answer names the
    # PaymentIntent of its paid payment
    pay = fake.calls[-1]
    assert (pay.method, pay.route, pay.idempotency_key, pay.expand) == (
        "POST",
        PAY,
        "topup:12:pay",
        ("payments",),
    )
    assert (paid.status, paid.amount_paid) == ("paid", 80000)
    assert paid.payment_reference == fake.payment_intent_of(invoice.reference)
    assert re.fullmatch(PAYMENT_INTENT_RE, paid.payment_reference)
    assert fake.payment_intents[paid.payment_reference]["amount_received"] == 80000


async def test_a_retrieved_paid_invoice_answers_its_payment_intent(
    provider: StripeProvider, fake: StripeFake, httpserver: HTTPServer
) -> None:
    # Given a paid invoice
    paid = await paid_invoice(provider, fake)

    # When it is retrieved
    retrieved = await provider.retrieve_invoice(paid.reference)

    # Then a GET with expand[0]=payments and no key answers the same PaymentIntent
    get = fake.calls[-1]
    assert (get.method, get.path, get.idempotency_key, get.expand) == (
        "GET",
        f"/v1/invoices/{paid.reference}",
        None,
        ("payments",),
    )
    assert dict(parse_qsl(httpserver.log[-1][0].query_string.decode())) == {"expand[0]": "payments"}
    assert retrieved == paid
    assert retrieved.payment_reference == fake.payment_intent_of(paid.reference)


async def test_a_pay_replayed_after_a_lost_answer_still_names_the_payment(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given a pay whose answer was lost after Stripe had charged the card
    invoice, card = await open_invoice(provider, fake)
    fake.lose_next_answer("POST", PAY)
    with pytest.raises(PaymentProviderFailed):
        await provider.charge_invoice(invoice.reference, card, "topup:12")

    # When it is retried with the same key
    paid = await provider.charge_invoice(invoice.reference, card, "topup:12")

    # Then the replayed answer carries the PaymentIntent of the one charge
    assert fake.count("POST", PAY, replayed=True) == 1
    assert len(fake.payment_intents) == 1
    assert paid.payment_reference == fake.payment_intent_of(invoice.reference)


async def test_charging_an_invoice_paid_already_answers_its_payment_intent(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given an invoice paid under one key
    invoice, card = await open_invoice(provider, fake)
    first = await provider.charge_invoice(invoice.reference, card, "topup:12")

    # When it is charged under another (Stripe refuses, the provider retrieves it)
    again = await provider.charge_invoice(invoice.reference, card, "topup:12:again")

    # Then the retrieved invoice names the same PaymentIntent
    assert [(c.method, c.route, c.status) for c in fake.calls[-2:]] == [
        ("POST", PAY, 400),
        ("GET", "/v1/invoices/{id}", 200),
    ]
    assert first.payment_reference is not None
    assert again.payment_reference == first.payment_reference
    assert len(fake.payment_intents) == 1


async def test_an_invoice_answered_without_payments_has_no_payment_reference(
    provider: StripeProvider, httpserver: HTTPServer
) -> None:
    # Given Stripe answers a paid invoice without its payments (an older shape)
    httpserver.expect_request("/v1/invoices/in_1", method="GET").respond_with_json(invoice_json())

    # When it is retrieved
    invoice = await provider.retrieve_invoice("in_1")

    # Then it is paid, with no payment reference
    assert (invoice.status, invoice.amount_paid, invoice.payment_reference) == (
        "paid",
        80000,
        None,
    )


@pytest.mark.parametrize(
    ("payments", "expected"),
    [
        pytest.param([], None, id="no payment"),
        pytest.param([invoice_payment("open", "pi_open")], None, id="only an open one"),
        pytest.param(
            [invoice_payment("canceled", "pi_declined"), invoice_payment("paid", "pi_paid")],
            "pi_paid",
            id="the paid one",
        ),
        pytest.param(
            [invoice_payment("paid", {"id": "pi_paid", "object": "payment_intent"})],
            "pi_paid",
            id="expanded payment intent",
        ),
        pytest.param(
            [
                {
                    "object": "invoice_payment",
                    "status": "paid",
                    "payment": {"type": "charge", "charge": "ch_1"},
                }
            ],
            None,
            id="paid by a charge",
        ),
    ],
)
async def test_payment_reference_is_the_payment_intent_of_the_paid_payment(
    provider: StripeProvider,
    httpserver: HTTPServer,
    payments: list[dict[str, Any]],
    expected: str | None,
) -> None:
    httpserver.expect_request("/v1/invoices/in_1", method="GET").respond_with_json(
        invoice_json(payments={"object": "list", "data": payments, "has_more": False})
    )

    invoice = await provider.retrieve_invoice("in_1")

    assert invoice.payment_reference == expected


@pytest.mark.parametrize(
    ("payments", "reason"),
    [
        pytest.param("inpay_1", "payments is 'inpay_1'", id="not a list object"),
        pytest.param(
            {"object": "list", "data": ["inpay_1"]},
            "a payment is 'inpay_1'",
            id="payment not an object",
        ),
        pytest.param(
            {"object": "list", "data": [invoice_payment("paid", 42)]},
            "payment_intent is 42",
            id="mistyped intent",
        ),
    ],
)
async def test_mistyped_payments_are_a_provider_failure(
    provider: StripeProvider, httpserver: HTTPServer, payments: object, reason: str
) -> None:
    httpserver.expect_request("/v1/invoices/in_1", method="GET").respond_with_json(
        invoice_json(payments=payments)
    )

    with pytest.raises(PaymentProviderFailed) as failure:
        await provider.retrieve_invoice("in_1")

    assert failure.value.message == f"Stripe answered an unexpected invoice: {reason}"


# Refunding -----------------------------------------------------------------------------


async def test_refund_sends_the_payment_intent_amount_metadata_and_a_derived_key(
    provider: StripeProvider, fake: StripeFake, httpserver: HTTPServer
) -> None:
    # Given an invoice paid with a card
    paid = await paid_invoice(provider, fake)
    assert paid.payment_reference is not None
    payment = paid.payment_reference

    # When 300.00 of it is refunded
    refund = await provider.refund(refund_request(payment))

    # Then one POST /v1/refunds carries the PaymentIntent, amount, metadata and the key
    call = fake.calls[-1]
    assert (call.method, call.path, call.idempotency_key, call.status) == (
        "POST",
        REFUNDS,
        "refund:12:lot:3:refund",
        200,
    )
    wire = dict(parse_qsl(httpserver.log[-1][0].get_data(as_text=True)))
    assert wire == {"payment_intent": payment, "amount": "30000", "metadata[refund_id]": "12"}
    # And the answer is the refund, succeeded at once (the fake's default, like cards)
    assert re.fullmatch(r"re_[0-9a-f]{24}", refund.reference)
    assert refund == ProviderRefund(
        reference=refund.reference,
        status="succeeded",
        amount=30000,
        currency="USD",
        payment_reference=payment,
        metadata={"refund_id": "12"},
    )
    assert fake.refunded(payment) == 30000


async def test_refund_retried_after_a_lost_answer_makes_one_refund(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given a refund whose answer was lost after Stripe had made it
    paid = await paid_invoice(provider, fake)
    assert paid.payment_reference is not None
    fake.lose_next_answer("POST", REFUNDS)
    with pytest.raises(PaymentProviderFailed, match=r"\(APIError, HTTP 500"):
        await provider.refund(refund_request(paid.payment_reference))
    assert len(fake.refunds) == 1

    # When the refund is retried with the same key
    refund = await provider.refund(refund_request(paid.payment_reference))

    # Then Stripe replays the first answer: one refund, of 300.00
    assert [(c.idempotency_key, c.status, c.replayed) for c in fake.calls if c.path == REFUNDS] == [
        ("refund:12:lot:3:refund", 500, False),
        ("refund:12:lot:3:refund", 200, True),
    ]
    assert list(fake.refunds) == [refund.reference]
    assert (refund.status, refund.amount) == ("succeeded", 30000)
    assert fake.refunded(paid.payment_reference) == 30000


async def test_a_refund_above_what_is_left_is_a_provider_failure(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given a payment of 800.00 of which 500.00 is refunded already
    paid = await paid_invoice(provider, fake)
    assert paid.payment_reference is not None
    payment = paid.payment_reference
    await provider.refund(refund_request(payment, 50000, key="refund:1"))

    # When 300.01 more is refunded
    with pytest.raises(PaymentProviderFailed) as failure:
        await provider.refund(refund_request(payment, 30001, key="refund:2"))

    # Then Stripe's refusal is reported with its code and message, nothing refunded
    message = failure.value.message
    assert message.startswith(
        "Stripe could not refund the payment (InvalidRequestError, HTTP 400, "
        "code amount_too_large, request req_"
    )
    assert message.endswith(
        ": Refund amount (30001) is greater than unrefunded amount on charge (30000)"
    )
    assert "sk_test" not in message
    assert (len(fake.refunds), fake.refunded(payment)) == (1, 50000)
    # And what is left can still be refunded, under a new key
    rest = await provider.refund(refund_request(payment, 30000, key="refund:3"))
    assert (rest.status, fake.refunded(payment)) == ("succeeded", 80000)


async def test_a_refund_of_an_unknown_payment_is_a_provider_failure(
    provider: StripeProvider, fake: StripeFake
) -> None:
    with pytest.raises(PaymentProviderFailed) as failure:
        await provider.refund(refund_request("pi_nope"))

    assert failure.value.message.startswith(
        "Stripe could not refund the payment (InvalidRequestError, HTTP 400, code resource_missing"
    )
    assert "No such payment_intent: 'pi_nope'" in failure.value.message
    assert fake.refunds == {}


# Statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stripe_status", "status"),
    [
        ("pending", "pending"),
        ("requires_action", "pending"),
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("canceled", "canceled"),
    ],
)
async def test_refund_statuses_are_normalised(
    provider: StripeProvider, httpserver: HTTPServer, stripe_status: str, status: str
) -> None:
    # Given Stripe answers a refund with this status
    httpserver.expect_request(REFUNDS, method="POST").respond_with_json(refund_json(stripe_status))

    # When a refund is made
    refund = await provider.refund(refund_request("pi_1"))

    # Then its status is the port's
    assert refund == ProviderRefund(
        reference="re_1",
        status=status,
        amount=30000,
        currency="USD",
        payment_reference="pi_1",
        metadata={"refund_id": "12"},
    )


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        pytest.param({"status": "reversed"}, "refund status 'reversed'", id="unknown status"),
        pytest.param({"status": None}, "status is None", id="no status"),
        pytest.param({"amount": "30000"}, "amount is '30000'", id="amount as a string"),
        pytest.param({"currency": None}, "currency is None", id="no currency"),
        pytest.param({"payment_intent": 7}, "payment_intent is 7", id="mistyped intent"),
    ],
)
async def test_an_unexpected_refund_is_a_provider_failure(
    provider: StripeProvider, httpserver: HTTPServer, extra: dict[str, Any], reason: str
) -> None:
    httpserver.expect_request("/v1/refunds/re_1", method="GET").respond_with_json(
        refund_json(**extra)
    )

    with pytest.raises(PaymentProviderFailed) as failure:
        await provider.retrieve_refund("re_1")

    assert failure.value.message == f"Stripe answered an unexpected refund: {reason}"


async def test_a_delayed_refund_is_pending_until_it_settles(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given refunds that the bank takes later
    paid = await paid_invoice(provider, fake)
    assert paid.payment_reference is not None
    fake.delay_refunds()

    # When a refund is made, then it is pending and its amount already taken
    refund = await provider.refund(refund_request(paid.payment_reference))
    assert refund.status == "pending"
    assert fake.refunded(paid.payment_reference) == 30000

    # When it settles, then it reads succeeded
    fake.settle_refund(refund.reference)
    settled = await provider.retrieve_refund(refund.reference)
    assert settled == ProviderRefund(
        reference=refund.reference,
        status="succeeded",
        amount=30000,
        currency="USD",
        payment_reference=paid.payment_reference,
        metadata={"refund_id": "12"},
    )


async def test_retrieve_refund_reads_a_refund_that_failed_later(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given a refund that succeeded, then failed (the card was closed, say)
    paid = await paid_invoice(provider, fake)
    assert paid.payment_reference is not None
    refund = await provider.refund(refund_request(paid.payment_reference))
    assert refund.status == "succeeded"
    fake.fail_refund(refund.reference)

    # When it is retrieved
    failed = await provider.retrieve_refund(refund.reference)

    # Then a GET without key reads it failed, the rest unchanged
    call = fake.calls[-1]
    assert (call.method, call.path, call.idempotency_key, call.status) == (
        "GET",
        f"/v1/refunds/{refund.reference}",
        None,
        200,
    )
    assert call.route == "/v1/refunds/{id}"
    assert failed == ProviderRefund(
        reference=refund.reference,
        status="failed",
        amount=30000,
        currency="USD",
        payment_reference=paid.payment_reference,
        metadata={"refund_id": "12"},
    )
    # And its amount is refundable again
    assert fake.refunded(paid.payment_reference) == 0


async def test_retrieve_refund_takes_the_id_of_an_expanded_payment_intent(
    provider: StripeProvider, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/refunds/re_1", method="GET").respond_with_json(
        refund_json(payment_intent={"id": "pi_1", "object": "payment_intent"})
    )

    refund = await provider.retrieve_refund("re_1")

    assert (refund.reference, refund.payment_reference) == ("re_1", "pi_1")


async def test_an_unknown_refund_is_a_provider_failure(
    provider: StripeProvider, fake: StripeFake
) -> None:
    with pytest.raises(PaymentProviderFailed) as failure:
        await provider.retrieve_refund("re_nope")

    assert failure.value.message.startswith(
        "Stripe could not retrieve the refund (InvalidRequestError, HTTP 404, code resource_missing"
    )
    assert "No such refund: 're_nope'" in failure.value.message
