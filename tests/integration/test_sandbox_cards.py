"""The sandbox's saved cards against the real Redis: setups, confirmation, off-session
charges at most once per key, the `setup_intent.succeeded` body, and `attach-card`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from adledger import clock
from adledger.app.cli import main
from adledger.app.settings import SANDBOX_WEBHOOK_SECRET
from adledger.domain.errors import PaymentDeclined, PaymentProviderFailed
from adledger.payments.port import CardSetup, CardSetupRequest, CustomerRequest, InvoiceRequest
from adledger.payments.sandbox import API_VERSION, PREFIX, SandboxProvider
from adledger.payments.signing import sign_payload, verify_event

CENTER = "adledger_business_center_id"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """The Redis test database, emptied before the test."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def sandbox(redis: Redis) -> SandboxProvider:
    return SandboxProvider(redis)


@pytest.fixture
async def customer(sandbox: SandboxProvider) -> str:
    return await sandbox.create_customer(CustomerRequest("business-center:7", "Acme"))


def _setup_request(customer: str, number: int = 1, center: str = "7") -> CardSetupRequest:
    return CardSetupRequest(f"card-setup:{number}", customer, {CENTER: center})


async def _open_invoice(sandbox: SandboxProvider, customer: str, key: str = "installment:1") -> str:
    request = InvoiceRequest(
        key, customer, "EUR", 12500, "installment 1 of 3", charge_automatically=True
    )
    invoice = await sandbox.create_invoice(request)
    assert invoice.status == "open"
    return invoice.reference


async def _saved_card(sandbox: SandboxProvider, customer: str, *, declining: bool = False) -> str:
    setup = await sandbox.create_card_setup(_setup_request(customer))
    _, card = await sandbox.confirm_card_setup(setup.reference, declining=declining)
    return card.reference


async def _keys(redis: Redis, kind: str) -> list[bytes]:
    return [key async for key in redis.scan_iter(f"{PREFIX}:{kind}:*")]


# -- card setups ---------------------------------------------------------------------


async def test_a_setup_made_twice_with_the_same_key_is_one_setup(
    sandbox: SandboxProvider, redis: Redis, customer: str
) -> None:
    # Given a card setup made once
    first = await sandbox.create_card_setup(_setup_request(customer))

    # When it is made again with the same key (a retry after a lost answer)
    again = await sandbox.create_card_setup(_setup_request(customer))

    # Then both answers are the one stored setup, waiting for a card
    assert again == first
    assert first.reference.startswith("seti_sandbox_")
    assert first.client_secret == f"{first.reference}_secret_sandbox"
    assert first.status == "requires_payment_method"
    assert first.customer_reference == customer
    assert first.payment_method is None
    assert first.metadata == {CENTER: "7"}
    assert await sandbox.retrieve_card_setup(first.reference) == first
    assert await _keys(redis, "setup") == [f"{PREFIX}:setup:{first.reference}".encode()]


async def test_a_key_reused_with_another_customer_is_refused(
    sandbox: SandboxProvider, customer: str
) -> None:
    # Given a setup made with a key
    await sandbox.create_card_setup(_setup_request(customer))

    # When the key comes back with different parameters
    # Then the sandbox refuses, as Stripe refuses a reused idempotency key
    with pytest.raises(PaymentProviderFailed, match="card-setup:1:setup_intent was already used"):
        await sandbox.create_card_setup(_setup_request("cus_other"))


async def test_unknown_setups_and_cards_are_provider_failures(sandbox: SandboxProvider) -> None:
    with pytest.raises(PaymentProviderFailed, match=r"^sandbox: no such card setup seti_x$"):
        await sandbox.retrieve_card_setup("seti_x")
    with pytest.raises(PaymentProviderFailed, match=r"^sandbox: no such card pm_x$"):
        await sandbox.retrieve_card("pm_x")
    with pytest.raises(PaymentProviderFailed, match=r"^sandbox: no such card setup seti_x$"):
        await sandbox.confirm_card_setup("seti_x")


async def test_confirming_saves_a_card_and_succeeds_the_setup(
    sandbox: SandboxProvider, customer: str
) -> None:
    # Given a setup waiting for a card
    setup = await sandbox.create_card_setup(_setup_request(customer))

    # When Stripe.js confirms it with a card
    confirmed, card = await sandbox.confirm_card_setup(setup.reference)

    # Then a 4242 Visa, valid three more years, is saved on the setup's customer
    assert card.reference.startswith("pm_sandbox_")
    assert (card.brand, card.last4) == ("visa", "4242")
    assert (card.exp_month, card.exp_year) == (12, clock.now().year + 3)
    assert card.customer_reference == customer
    assert await sandbox.retrieve_card(card.reference) == card
    # And the setup succeeded with that card, and nothing else about it changed
    assert confirmed.status == "succeeded"
    assert confirmed.payment_method == card.reference
    assert (confirmed.reference, confirmed.client_secret) == (setup.reference, setup.client_secret)
    assert confirmed.metadata == setup.metadata
    assert await sandbox.retrieve_card_setup(setup.reference) == confirmed


async def test_a_declining_card_is_stripes_0002_test_card(
    sandbox: SandboxProvider, customer: str
) -> None:
    setup = await sandbox.create_card_setup(_setup_request(customer))

    _, card = await sandbox.confirm_card_setup(setup.reference, declining=True)

    assert (card.brand, card.last4) == ("visa", "0002")


async def test_confirming_twice_makes_one_card(
    sandbox: SandboxProvider, redis: Redis, customer: str
) -> None:
    # Given a setup confirmed once
    setup = await sandbox.create_card_setup(_setup_request(customer))
    first_setup, first_card = await sandbox.confirm_card_setup(setup.reference)

    # When it is confirmed again, even asking for another kind of card, and concurrently
    answers = await asyncio.gather(
        *(sandbox.confirm_card_setup(setup.reference, declining=True) for _ in range(3))
    )

    # Then every answer is the first confirmation and only one card exists
    assert answers == [(first_setup, first_card)] * 3
    assert await _keys(redis, "card") == [f"{PREFIX}:card:{first_card.reference}".encode()]


async def test_concurrent_first_confirmations_make_one_card(
    sandbox: SandboxProvider, redis: Redis, customer: str
) -> None:
    # Given a setup waiting for a card
    setup = await sandbox.create_card_setup(_setup_request(customer))

    # When several confirmations race
    answers = await asyncio.gather(*(sandbox.confirm_card_setup(setup.reference) for _ in range(5)))

    # Then they all answer the one card the winner saved
    assert len({card.reference for _, card in answers}) == 1
    assert len(await _keys(redis, "card")) == 1


async def test_latest_card_setup_finds_the_newest_of_a_center(
    sandbox: SandboxProvider, customer: str
) -> None:
    # Given two setups of center 7, one of center 8, and one with no center
    older = await sandbox.create_card_setup(_setup_request(customer, 1, center="7"))
    newer = await sandbox.create_card_setup(_setup_request(customer, 2, center="7"))
    other = await sandbox.create_card_setup(_setup_request(customer, 3, center="8"))
    await sandbox.create_card_setup(CardSetupRequest("card-setup:4", customer))

    # When the older one is retried (its answer was lost)
    assert await sandbox.create_card_setup(_setup_request(customer, 1, center="7")) == older

    # Then each center's newest setup is found, by number or by text, and no other
    assert await sandbox.latest_card_setup(7) == newer
    assert await sandbox.latest_card_setup("7") == newer
    assert await sandbox.latest_card_setup(8) == other
    assert await sandbox.latest_card_setup(9) is None


# -- charges ---------------------------------------------------------------------------


async def test_charging_twice_with_one_key_pays_once(
    sandbox: SandboxProvider, customer: str
) -> None:
    # Given an open invoice and a card that pays
    reference = await _open_invoice(sandbox, customer)
    card = await _saved_card(sandbox, customer)

    # When it is charged with one key, twice in a row and then three times at once
    first = await sandbox.charge_invoice(reference, card, "installment:1")
    again = await sandbox.charge_invoice(reference, card, "installment:1")
    racing = await asyncio.gather(
        *(sandbox.charge_invoice(reference, card, "installment:1") for _ in range(3))
    )

    # Then the invoice is paid in full, by one charge, and every call answers so
    assert (first.status, first.amount_paid, first.amount_due) == ("paid", 12500, 12500)
    assert again == first
    assert racing == [first] * 3
    assert await sandbox.retrieve_invoice(reference) == first
    assert await sandbox.charges_made(reference) == 1


async def test_a_declining_card_raises_and_leaves_the_invoice_open(
    sandbox: SandboxProvider, customer: str
) -> None:
    # Given an open invoice and a card that declines
    reference = await _open_invoice(sandbox, customer)
    card = await _saved_card(sandbox, customer, declining=True)

    # When it is charged, and the same key is tried again
    for _ in range(2):
        with pytest.raises(PaymentDeclined) as declined:
            await sandbox.charge_invoice(reference, card, "installment:1")
        assert declined.value.message == "sandbox: the card was declined (card_declined)"

    # Then nothing was taken: the invoice is open and unpaid, no charge counted
    invoice = await sandbox.retrieve_invoice(reference)
    assert (invoice.status, invoice.amount_paid) == ("open", 0)
    assert await sandbox.charges_made(reference) == 0


async def test_charging_a_paid_invoice_answers_it_paid(
    sandbox: SandboxProvider, customer: str
) -> None:
    # Given an invoice the customer already paid
    reference = await _open_invoice(sandbox, customer)
    paid, _ = await sandbox.settle(reference, "paid")
    card = await _saved_card(sandbox, customer)

    # When the card is charged for it
    answer = await sandbox.charge_invoice(reference, card, "installment:1")

    # Then it is answered as it is, and nothing more is charged
    assert answer == paid
    assert answer.status == "paid"
    assert await sandbox.charges_made(reference) == 0


async def test_void_or_unknown_invoices_and_unknown_cards_are_provider_failures(
    sandbox: SandboxProvider, customer: str
) -> None:
    # Given a void invoice, an open one, and a card
    void = await _open_invoice(sandbox, customer, "installment:1")
    await sandbox.void_invoice(void, "installment:1:void")
    open_ = await _open_invoice(sandbox, customer, "installment:2")
    card = await _saved_card(sandbox, customer)

    # When each is charged wrongly, then each is a provider failure and takes nothing
    with pytest.raises(PaymentProviderFailed, match=f"cannot charge invoice {void}: it is void"):
        await sandbox.charge_invoice(void, card, "installment:1")
    with pytest.raises(PaymentProviderFailed, match=r"^sandbox: no such invoice in_x$"):
        await sandbox.charge_invoice("in_x", card, "installment:x")
    with pytest.raises(PaymentProviderFailed, match=r"^sandbox: no such card pm_x$"):
        await sandbox.charge_invoice(open_, "pm_x", "installment:2")
    assert await sandbox.charges_made(void) == 0
    assert (await sandbox.retrieve_invoice(open_)).status == "open"


async def test_a_card_of_another_customer_is_refused(
    sandbox: SandboxProvider, customer: str
) -> None:
    # Given an invoice of our customer and a card saved on someone else
    reference = await _open_invoice(sandbox, customer)
    card = await _saved_card(sandbox, "cus_someone_else")

    # When it is charged with that card, then Stripe's refusal is a provider failure
    with pytest.raises(PaymentProviderFailed, match="does not belong to the customer"):
        await sandbox.charge_invoice(reference, card, "installment:1")
    assert await sandbox.charges_made(reference) == 0


async def test_create_invoice_records_charge_automatically(
    sandbox: SandboxProvider, redis: Redis, customer: str
) -> None:
    reference = await _open_invoice(sandbox, customer)

    record = json.loads(await redis.get(f"{PREFIX}:invoice:{reference}"))

    assert record["charge_automatically"] is True


# -- the event -------------------------------------------------------------------------


async def test_setup_event_payload_is_a_signed_setup_intent_succeeded(
    sandbox: SandboxProvider, customer: str
) -> None:
    # Given a confirmed setup
    setup = await sandbox.create_card_setup(_setup_request(customer))
    confirmed, card = await sandbox.confirm_card_setup(setup.reference)

    # When its event body is signed, as the CLI sends it
    payload = sandbox.setup_event_payload(confirmed, "evt_sandbox_1")
    event = verify_event(
        payload, sign_payload(payload, SANDBOX_WEBHOOK_SECRET), SANDBOX_WEBHOOK_SECRET
    )

    # Then the webhook's own check accepts it, and it has Stripe's shape
    assert b" " not in payload  # compact, like event_payload
    assert isinstance(event.pop("created"), int)
    assert event == {
        "id": "evt_sandbox_1",
        "object": "event",
        "type": "setup_intent.succeeded",
        "data": {
            "object": {
                "id": setup.reference,
                "object": "setup_intent",
                "status": "succeeded",
                "customer": customer,
                "payment_method": card.reference,
                "client_secret": setup.client_secret,
                "metadata": {CENTER: "7"},
            }
        },
        "livemode": False,
        "api_version": API_VERSION,
    }


def test_setup_events_get_fresh_ids() -> None:
    setup = CardSetup("seti_1", "seti_1_secret", "succeeded", "cus_1", "pm_1")

    first, second = (json.loads(SandboxProvider.setup_event_payload(setup)) for _ in range(2))

    assert first["id"].startswith("evt_sandbox_")
    assert first["id"] != second["id"]


# -- adledger payments attach-card ------------------------------------------------------


async def test_attach_card_without_a_setup_exits_1_with_the_message(
    monkeypatch, database_url, redis_url, db, capsys
) -> None:
    # Given a sandbox in which business center 7 has no card setup
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)

    # When a card is attached to it
    code = await asyncio.to_thread(main, ["payments", "attach-card", "7"])

    # Then the command says what to do first, in one line without a traceback
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "adledger: business center 7 has no card setup in the sandbox: "
        "call the createCardSetup mutation first"
    ]


async def test_attach_card_refuses_when_stripe_is_configured(monkeypatch, capsys) -> None:
    # Given Stripe keys instead of the sandbox
    monkeypatch.delenv("PAYMENT_PROVIDER")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_x")

    # When a card is attached, then the command refuses: cards are saved at Stripe
    assert await asyncio.to_thread(main, ["payments", "attach-card", "7"]) == 2
    assert capsys.readouterr().err.strip() == (
        "adledger: STRIPE_API_KEY is set: real cards are saved at Stripe, not here "
        "(PAYMENT_PROVIDER=sandbox attaches sandbox cards)"
    )
