"""Saved cards through StripeProvider: setup intents, payment methods, off-session pay.

Most tests run against `tests.stripe_fake.StripeFake`, which keeps state and honours
idempotency keys as Stripe does; shapes the fake never produces (expanded objects, a
non-card payment method) come from plain pytest-httpserver answers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from pytest_httpserver import HTTPServer

from adledger.domain.errors import PaymentDeclined, PaymentProviderFailed
from adledger.payments.port import (
    Card,
    CardSetup,
    CardSetupRequest,
    CustomerRequest,
    InvoiceRequest,
    ProviderInvoice,
)
from adledger.payments.stripe_provider import StripeProvider
from tests.stripe_fake import StripeFake

API_KEY = "sk_test_adledgerFakeKey0123456789"
PAY = "/v1/invoices/{id}/pay"


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


def topup(customer: str, key: str = "topup:12", **extra: Any) -> InvoiceRequest:
    return InvoiceRequest(
        key=key,
        customer_reference=customer,
        currency="USD",
        amount_minor=80000,
        description="Credit balance top-up",
        metadata={"topup_id": "12"},
        **extra,
    )


async def saved_card(
    provider: StripeProvider, fake: StripeFake, *, declining: bool = False
) -> tuple[str, str]:
    """A customer with a card saved through a setup intent: (customer, card)."""
    customer = fake.add_customer()
    setup = await provider.create_card_setup(CardSetupRequest("card-setup:3", customer))
    return customer, fake.confirm_setup(setup.reference, declining=declining)


async def open_invoice(
    provider: StripeProvider, fake: StripeFake, *, declining: bool = False
) -> tuple[ProviderInvoice, str]:
    """An open charge_automatically invoice of 800.00 USD and the card to pay it with."""
    customer, card = await saved_card(provider, fake, declining=declining)
    invoice = await provider.create_invoice(topup(customer, charge_automatically=True))
    assert (invoice.status, invoice.amount_due) == ("open", 80000)
    return invoice, card


# Setup intents ---------------------------------------------------------------------


async def test_card_setup_is_an_off_session_card_intent_with_a_derived_key(
    provider: StripeProvider, fake: StripeFake, httpserver: HTTPServer
) -> None:
    # Given a customer
    customer = fake.add_customer()

    # When a card setup is created for it
    setup = await provider.create_card_setup(
        CardSetupRequest("card-setup:3", customer, metadata={"business_center_id": "7"})
    )

    # Then one POST carries customer, off-session usage, cards only, metadata and the key
    (call,) = fake.calls
    assert (call.method, call.path, call.idempotency_key) == (
        "POST",
        "/v1/setup_intents",
        "card-setup:3:setup_intent",
    )
    wire = dict(parse_qsl(httpserver.log[0][0].get_data(as_text=True)))
    assert wire == {
        "customer": customer,
        "usage": "off_session",
        "allowed_payment_method_types[0]": "card",
        "metadata[business_center_id]": "7",
    }
    # And the answer is the intent Stripe.js needs
    assert re.fullmatch(r"seti_[0-9a-f]{24}", setup.reference)
    assert setup == CardSetup(
        reference=setup.reference,
        client_secret=fake.setup_intents[setup.reference]["client_secret"],
        status="requires_payment_method",
        customer_reference=customer,
        payment_method=None,
        metadata={"business_center_id": "7"},
    )
    assert setup.client_secret.startswith(f"{setup.reference}_secret_")


async def test_card_setup_retried_with_the_same_key_is_the_same_intent(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given a card setup already created
    customer = fake.add_customer()
    first = await provider.create_card_setup(CardSetupRequest("card-setup:3", customer))

    # When it is created again with the same key
    again = await provider.create_card_setup(CardSetupRequest("card-setup:3", customer))

    # Then Stripe replays the first intent and makes no second one
    assert again == first
    assert len(fake.setup_intents) == 1
    assert fake.count("POST", "/v1/setup_intents", replayed=True) == 1


async def test_retrieve_card_setup_after_stripe_js_saved_the_card(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given a setup intent the customer confirmed in the browser
    customer = fake.add_customer()
    setup = await provider.create_card_setup(CardSetupRequest("card-setup:3", customer))
    card = fake.confirm_setup(setup.reference)

    # When it is retrieved
    retrieved = await provider.retrieve_card_setup(setup.reference)

    # Then it succeeded with the saved card's id (a string in Stripe's answer)
    assert (retrieved.status, retrieved.payment_method) == ("succeeded", card)
    assert retrieved.customer_reference == customer
    last = fake.calls[-1]
    assert (last.method, last.route, last.idempotency_key) == (
        "GET",
        "/v1/setup_intents/{id}",
        None,
    )


async def test_retrieve_card_setup_takes_the_ids_of_expanded_objects(
    provider: StripeProvider, httpserver: HTTPServer
) -> None:
    # Given Stripe answers the intent with payment_method and customer expanded
    httpserver.expect_request("/v1/setup_intents/seti_1", method="GET").respond_with_json(
        {
            "id": "seti_1",
            "object": "setup_intent",
            "client_secret": "seti_1_secret_x",
            "status": "succeeded",
            "customer": {"id": "cus_1", "object": "customer"},
            "payment_method": {"id": "pm_1", "object": "payment_method", "type": "card"},
            "metadata": {},
        }
    )

    # When it is retrieved
    setup = await provider.retrieve_card_setup("seti_1")

    # Then the references are the objects' ids
    assert (setup.customer_reference, setup.payment_method) == ("cus_1", "pm_1")


@pytest.mark.parametrize("payment_method", [42, {"object": "payment_method"}])
async def test_retrieve_card_setup_with_an_unexpected_payment_method_fails(
    provider: StripeProvider, httpserver: HTTPServer, payment_method: object
) -> None:
    httpserver.expect_request("/v1/setup_intents/seti_1", method="GET").respond_with_json(
        {
            "id": "seti_1",
            "object": "setup_intent",
            "client_secret": "seti_1_secret_x",
            "status": "succeeded",
            "customer": None,
            "payment_method": payment_method,
        }
    )

    with pytest.raises(PaymentProviderFailed, match="unexpected card setup"):
        await provider.retrieve_card_setup("seti_1")


# Payment methods -------------------------------------------------------------------


async def test_retrieve_card(provider: StripeProvider, fake: StripeFake) -> None:
    # Given a card saved by a setup intent
    customer, card = await saved_card(provider, fake)

    # When it is retrieved
    retrieved = await provider.retrieve_card(card)

    # Then brand, last digits and expiry come from its card hash
    assert retrieved == Card(
        reference=card,
        customer_reference=customer,
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2034,
    )
    last = fake.calls[-1]
    assert (last.method, last.path, last.idempotency_key) == (
        "GET",
        f"/v1/payment_methods/{card}",
        None,
    )


async def test_a_payment_method_that_is_not_a_card_is_a_provider_failure(
    provider: StripeProvider, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/payment_methods/pm_1", method="GET").respond_with_json(
        {
            "id": "pm_1",
            "object": "payment_method",
            "type": "sepa_debit",
            "sepa_debit": {"last4": "3000"},
            "customer": "cus_1",
        }
    )

    with pytest.raises(PaymentProviderFailed, match="'sepa_debit', not a card"):
        await provider.retrieve_card("pm_1")


async def test_an_unknown_card_is_a_provider_failure(
    provider: StripeProvider, fake: StripeFake
) -> None:
    with pytest.raises(PaymentProviderFailed) as failure:
        await provider.retrieve_card("pm_nope")

    assert failure.value.message.startswith(
        "Stripe could not retrieve the card (InvalidRequestError, HTTP 404, code resource_missing"
    )
    assert "No such payment_method: 'pm_nope'" in failure.value.message


# Invoices charged automatically ---------------------------------------------------


async def test_charge_automatically_invoice_has_no_due_date(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given a customer
    customer = fake.add_customer()

    # When an invoice to charge automatically is created (days_until_due is ignored)
    invoice = await provider.create_invoice(
        topup(customer, charge_automatically=True, days_until_due=7)
    )

    # Then draft, item and finalize go out in order, the draft without days_until_due
    assert [(c.method, c.route, c.idempotency_key) for c in fake.calls] == [
        ("POST", "/v1/invoices", "topup:12:invoice"),
        ("POST", "/v1/invoiceitems", "topup:12:item"),
        ("POST", "/v1/invoices/{id}/finalize", "topup:12:finalize"),
    ]
    assert fake.calls[0].params == {
        "customer": customer,
        "currency": "usd",
        "collection_method": "charge_automatically",
        "auto_advance": "false",
        "pending_invoice_items_behavior": "exclude",
        "description": "Credit balance top-up",
        "metadata": {"topup_id": "12"},
    }
    assert (invoice.status, invoice.amount_due, invoice.amount_paid) == ("open", 80000, 0)
    assert fake.invoices[invoice.reference]["due_date"] is None


async def test_send_invoice_keeps_its_due_date(provider: StripeProvider, fake: StripeFake) -> None:
    customer = fake.add_customer()

    invoice = await provider.create_invoice(topup(customer, days_until_due=7))

    create = fake.calls[0].params
    assert (create["collection_method"], create["days_until_due"]) == ("send_invoice", "7")
    assert fake.invoices[invoice.reference]["due_date"] is not None


# Charging --------------------------------------------------------------------------


async def test_charge_pays_the_invoice_with_the_saved_card(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given an open invoice and a saved card
    invoice, card = await open_invoice(provider, fake)

    # When the invoice is charged
    paid = await provider.charge_invoice(invoice.reference, card, "topup:12")

    # Then one off-session pay with that card, keyed "<key>:pay", paid it in full
    last = fake.calls[-1]
    assert (last.method, last.path, last.idempotency_key) == (
        "POST",
        f"/v1/invoices/{invoice.reference}/pay",
        "topup:12:pay",
    )
    assert last.params == {"payment_method": card, "off_session": "true"}
    assert (paid.reference, paid.status, paid.amount_paid, paid.currency) == (
        invoice.reference,
        "paid",
        80000,
        "USD",
    )
    assert fake.successful_charges(invoice.reference) == 1


async def test_declined_card_is_payment_declined_and_the_invoice_stays_open(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given an open invoice and a card whose bank refuses every charge
    invoice, card = await open_invoice(provider, fake, declining=True)

    # When the invoice is charged
    with pytest.raises(PaymentDeclined) as declined:
        await provider.charge_invoice(invoice.reference, card, "topup:12")

    # Then the decline is named, with Stripe's codes and message and no secret
    message = declined.value.message
    assert re.fullmatch(
        r"the card was declined \(card_declined, decline code generic_decline, "
        r"request req_[0-9a-f]+\): Your card was declined\.",
        message,
    )
    assert not isinstance(declined.value, PaymentProviderFailed)
    # And nothing was taken: the invoice is still open
    after = await provider.retrieve_invoice(invoice.reference)
    assert (after.status, after.amount_paid) == ("open", 0)
    assert [charge.succeeded for charge in fake.charges] == [False]


async def test_decline_code_is_only_named_when_it_adds_something(
    provider: StripeProvider, fake: StripeFake
) -> None:
    invoice, card = await open_invoice(provider, fake)
    fake.decline_charges(card, code="expired_card", decline_code="expired_card")

    with pytest.raises(PaymentDeclined, match=r"^the card was declined \(expired_card, request "):
        await provider.charge_invoice(invoice.reference, card, "topup:12")


async def test_a_decline_is_replayed_for_the_same_key(
    provider: StripeProvider, fake: StripeFake
) -> None:
    """Stripe stores a decline under its idempotency key: a new attempt needs a new key."""
    # Given a charge declined under key "topup:12"
    invoice, card = await open_invoice(provider, fake, declining=True)
    with pytest.raises(PaymentDeclined):
        await provider.charge_invoice(invoice.reference, card, "topup:12")
    fake.accept_charges(card)

    # When the same key is charged again, then the decline is replayed, nothing charged
    with pytest.raises(PaymentDeclined):
        await provider.charge_invoice(invoice.reference, card, "topup:12")
    assert len(fake.charges) == 1

    # And a new key makes a new attempt, which pays
    paid = await provider.charge_invoice(invoice.reference, card, "topup:12:attempt-2")
    assert paid.status == "paid"
    assert fake.successful_charges(invoice.reference) == 1


async def test_charging_an_already_paid_invoice_answers_it_paid(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given an invoice already paid
    invoice, card = await open_invoice(provider, fake)
    await provider.charge_invoice(invoice.reference, card, "topup:12")

    # When it is charged again under another key (Stripe refuses: "Invoice is already paid")
    again = await provider.charge_invoice(invoice.reference, card, "topup:12:again")

    # Then the provider looks at the invoice and answers it paid, charged once
    assert (again.status, again.amount_paid) == ("paid", 80000)
    assert [(c.method, c.route, c.status) for c in fake.calls[-2:]] == [
        ("POST", PAY, 400),
        ("GET", "/v1/invoices/{id}", 200),
    ]
    assert fake.successful_charges(invoice.reference) == 1


@pytest.mark.parametrize("code", [None, "invoice_not_open", "some_future_code"])
async def test_already_paid_does_not_depend_on_the_error_code(
    provider: StripeProvider, httpserver: HTTPServer, code: str | None
) -> None:
    error = {"type": "invalid_request_error", "message": "Invoice is already paid"}
    httpserver.expect_request("/v1/invoices/in_1/pay", method="POST").respond_with_json(
        {"error": {**error, "code": code} if code else error}, status=400
    )
    httpserver.expect_request("/v1/invoices/in_1", method="GET").respond_with_json(
        {
            "id": "in_1",
            "object": "invoice",
            "status": "paid",
            "currency": "usd",
            "amount_due": 500,
            "amount_paid": 500,
        }
    )

    paid = await provider.charge_invoice("in_1", "pm_1", "topup:1")

    assert (paid.reference, paid.status, paid.amount_paid) == ("in_1", "paid", 500)


async def test_an_invalid_pay_on_an_open_invoice_stays_a_provider_failure(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given an open invoice and a card of another customer
    invoice, _ = await open_invoice(provider, fake)
    strangers_card = fake.add_card(fake.add_customer("Other"))

    # When the invoice is charged with it
    with pytest.raises(PaymentProviderFailed) as failure:
        await provider.charge_invoice(invoice.reference, strangers_card, "topup:12")

    # Then Stripe's refusal is reported as it was, after a look at the (open) invoice
    assert failure.value.message.startswith(
        "Stripe could not pay the invoice (InvalidRequestError, HTTP 400"
    )
    assert "not attached to this invoice's customer" in failure.value.message
    assert [(c.method, c.route) for c in fake.calls[-2:]] == [
        ("POST", PAY),
        ("GET", "/v1/invoices/{id}"),
    ]
    assert fake.charges == []


async def test_an_outage_is_a_provider_failure_not_a_decline(
    provider: StripeProvider, fake: StripeFake
) -> None:
    invoice, card = await open_invoice(provider, fake)
    fake.fail_next("POST", PAY)

    with pytest.raises(PaymentProviderFailed, match=r"\(APIError, HTTP 500"):
        await provider.charge_invoice(invoice.reference, card, "topup:12")

    assert fake.charges == []
    assert fake.invoices[invoice.reference]["status"] == "open"


async def test_retry_after_a_lost_answer_does_not_pay_twice(
    provider: StripeProvider, fake: StripeFake
) -> None:
    # Given a pay whose answer was lost after Stripe had charged the card
    invoice, card = await open_invoice(provider, fake)
    fake.lose_next_answer("POST", PAY)
    with pytest.raises(PaymentProviderFailed):
        await provider.charge_invoice(invoice.reference, card, "topup:12")

    # When the charge is retried with the same key
    paid = await provider.charge_invoice(invoice.reference, card, "topup:12")

    # Then Stripe replays the first answer: paid, and the card was charged once
    assert (paid.status, paid.amount_paid) == ("paid", 80000)
    assert fake.count("POST", PAY) == 2
    assert fake.count("POST", PAY, replayed=True) == 1
    assert [c.idempotency_key for c in fake.calls if c.route == PAY] == ["topup:12:pay"] * 2
    assert len(fake.charges) == 1
    assert fake.successful_charges(invoice.reference) == 1


async def test_the_sdk_retry_after_a_lost_answer_reuses_the_key(
    fake: StripeFake, provider: StripeProvider
) -> None:
    # Given an open invoice and a provider that lets the SDK retry once
    invoice, card = await open_invoice(provider, fake)
    fake.lose_next_answer("POST", PAY)

    # When the charge's first answer is lost
    async with StripeProvider(API_KEY, api_base=fake.api_base, max_network_retries=1) as retrying:
        paid = await retrying.charge_invoice(invoice.reference, card, "topup:12")

    # Then the SDK's own retry got the replayed answer; one charge
    assert paid.status == "paid"
    assert fake.count("POST", PAY, replayed=True) == 1
    assert fake.successful_charges(invoice.reference) == 1


async def test_a_fake_on_its_own_server_runs_the_whole_card_flow() -> None:
    """`StripeFake.running()` is for fixtures that outlive one test (an app under test)."""
    with StripeFake.running() as own:
        async with StripeProvider(API_KEY, api_base=own.api_base, max_network_retries=0) as stripe:
            # Given a customer made through the API and a card it saved
            customer = await stripe.create_customer(CustomerRequest("business-center:7", "Acme"))
            setup = await stripe.create_card_setup(CardSetupRequest("card-setup:3", customer))
            card = own.confirm_setup(setup.reference)
            invoice = await stripe.create_invoice(topup(customer, charge_automatically=True))

            # When the invoice is charged with the card
            paid = await stripe.charge_invoice(invoice.reference, card, "topup:12")

        # Then it is paid once and every endpoint was called once
        own.check()
    assert paid.status == "paid"
    assert own.successful_charges(invoice.reference) == 1
    assert [(c.method, c.route) for c in own.calls] == [
        ("POST", "/v1/customers"),
        ("POST", "/v1/setup_intents"),
        ("POST", "/v1/invoices"),
        ("POST", "/v1/invoiceitems"),
        ("POST", "/v1/invoices/{id}/finalize"),
        ("POST", PAY),
    ]
