"""The sandbox's refunds against the real Redis: the payment a paid invoice carries,
refunds stored once per key and never above what is left of the payment (concurrently
too), settling them, their signed events, and `adledger payments settle-refund`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from adledger.app.cli import main
from adledger.app.settings import SANDBOX_WEBHOOK_SECRET
from adledger.domain.errors import PaymentProviderFailed
from adledger.payments.port import (
    CardSetupRequest,
    CustomerRequest,
    InvoiceRequest,
    ProviderRefund,
    RefundRequest,
)
from adledger.payments.sandbox import API_VERSION, PREFIX, SandboxProvider
from adledger.payments.signing import sign_payload, verify_event

AMOUNT = 12500


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


async def _open_invoice(sandbox: SandboxProvider, customer: str, key: str = "topup:1") -> str:
    request = InvoiceRequest(key, customer, "EUR", AMOUNT, "top-up", charge_automatically=True)
    return (await sandbox.create_invoice(request)).reference


@pytest.fixture
async def payment(sandbox: SandboxProvider, customer: str) -> str:
    """The payment of an invoice of 125.00 EUR the customer paid."""
    paid, _ = await sandbox.settle(await _open_invoice(sandbox, customer), "paid")
    assert paid.payment_reference is not None
    return paid.payment_reference


def _request(
    payment: str, amount: int, key: str = "refund:1", currency: str = "EUR"
) -> RefundRequest:
    return RefundRequest(key, payment, amount, currency, {"refund_id": key.rsplit(":", 1)[-1]})


def _payment_of(invoice: str) -> str:
    """The payment the sandbox names after an invoice once it is paid."""
    return f"pi_sandbox_{hashlib.sha256(invoice.encode()).hexdigest()[:24]}"


def _signed(payload: bytes) -> dict[str, object]:
    header = sign_payload(payload, SANDBOX_WEBHOOK_SECRET)
    return verify_event(payload, header, SANDBOX_WEBHOOK_SECRET)


# -- the payment of a paid invoice ------------------------------------------------------


async def test_an_invoice_paid_by_hand_carries_its_payment(
    sandbox: SandboxProvider, redis: Redis, customer: str
) -> None:
    # Given an open invoice, which has no payment yet
    reference = await _open_invoice(sandbox, customer)
    assert (await sandbox.retrieve_invoice(reference)).payment_reference is None

    # When the customer pays it
    paid, _ = await sandbox.settle(reference, "paid")

    # Then it carries the payment refunds go back to, named after the invoice, and kept
    assert paid.payment_reference == _payment_of(reference)
    assert await sandbox.retrieve_invoice(reference) == paid
    record = json.loads(await redis.get(f"{PREFIX}:invoice:{reference}"))
    assert record["payment_reference"] == paid.payment_reference
    # And paying it again answers the same payment
    again, _ = await sandbox.settle(reference, "paid")
    assert again.payment_reference == paid.payment_reference


async def test_a_failed_payment_leaves_no_payment(sandbox: SandboxProvider, customer: str) -> None:
    reference = await _open_invoice(sandbox, customer)

    failed, _ = await sandbox.settle(reference, "failed")

    assert failed.payment_reference is None


async def test_an_invoice_charged_to_a_card_carries_its_payment(
    sandbox: SandboxProvider, customer: str
) -> None:
    # Given an open invoice and a saved card
    reference = await _open_invoice(sandbox, customer)
    setup = await sandbox.create_card_setup(CardSetupRequest("card-setup:1", customer))
    _, card = await sandbox.confirm_card_setup(setup.reference)

    # When the card pays it
    paid = await sandbox.charge_invoice(reference, card.reference, "topup:1")

    # Then it carries its payment, which can be refunded
    assert paid.payment_reference == _payment_of(reference)
    assert (await sandbox.retrieve_invoice(reference)).payment_reference == paid.payment_reference
    refund = await sandbox.refund(_request(_payment_of(reference), AMOUNT))
    assert (refund.status, refund.amount) == ("pending", AMOUNT)


async def test_the_invoice_event_is_unchanged_by_the_payment(
    sandbox: SandboxProvider, customer: str
) -> None:
    paid, event_type = await sandbox.settle(await _open_invoice(sandbox, customer), "paid")

    event = _signed(SandboxProvider.event_payload(paid, event_type, "evt_1"))

    assert event["type"] == "invoice.paid"
    assert event["data"] == {
        "object": {
            "id": paid.reference,
            "object": "invoice",
            "status": "paid",
            "amount_due": AMOUNT,
            "amount_paid": AMOUNT,
            "currency": "eur",
            "hosted_invoice_url": paid.hosted_url,
            "metadata": {},
        }
    }


# -- refunds ---------------------------------------------------------------------------


async def test_a_refund_is_pending_and_stored_once_per_key(
    sandbox: SandboxProvider, redis: Redis, payment: str
) -> None:
    # Given a refund of part of a payment
    first = await sandbox.refund(_request(payment, 5000))

    # When it is asked again with the same key, in a row and three times at once
    again = await sandbox.refund(_request(payment, 5000))
    racing = await asyncio.gather(*(sandbox.refund(_request(payment, 5000)) for _ in range(3)))

    # Then every answer is the one pending refund, counted once against the payment
    assert re.fullmatch(r"re_sandbox_[0-9a-f]{24}", first.reference)
    assert first == ProviderRefund(first.reference, "pending", 5000, "EUR", payment, first.metadata)
    assert first.metadata == {"refund_id": "1"}
    assert again == first
    assert racing == [first] * 3
    assert await sandbox.retrieve_refund(first.reference) == first
    assert await sandbox.refunded_amount(payment) == 5000
    refunds = [key async for key in redis.scan_iter(f"{PREFIX}:refund:*")]
    assert refunds == [f"{PREFIX}:refund:{first.reference}".encode()]


async def test_a_key_reused_with_other_parameters_is_refused(
    sandbox: SandboxProvider, payment: str
) -> None:
    await sandbox.refund(_request(payment, 5000))

    with pytest.raises(PaymentProviderFailed, match="refund:1 was already used"):
        await sandbox.refund(_request(payment, 6000))
    assert await sandbox.refunded_amount(payment) == 5000


async def test_refunds_never_exceed_the_payment(sandbox: SandboxProvider, payment: str) -> None:
    # Given 100.00 of the 125.00 refunded
    await sandbox.refund(_request(payment, 10000, "refund:1"))

    # When 25.01 more is asked, then it is refused and nothing is stored
    message = (
        f"^sandbox: refund above what is left of payment {payment}: "
        "2501 EUR asked, 2500 of 12500 left$"
    )
    with pytest.raises(PaymentProviderFailed, match=message):
        await sandbox.refund(_request(payment, 2501, "refund:2"))
    with pytest.raises(PaymentProviderFailed, match="no such refund"):
        await sandbox.retrieve_refund(f"re_sandbox_{'0' * 24}")

    # And exactly what is left can still be refunded, then nothing more
    last = await sandbox.refund(_request(payment, 2500, "refund:3"))
    assert last.status == "pending"
    assert await sandbox.refunded_amount(payment) == AMOUNT
    with pytest.raises(PaymentProviderFailed, match="refund above what is left"):
        await sandbox.refund(_request(payment, 1, "refund:4"))


async def test_concurrent_refunds_never_exceed_the_payment(
    sandbox: SandboxProvider, payment: str
) -> None:
    # When two refunds with different keys, together above the payment, race
    answers = await asyncio.gather(
        sandbox.refund(_request(payment, 7000, "refund:1")),
        sandbox.refund(_request(payment, 6000, "refund:2")),
        return_exceptions=True,
    )

    # Then exactly one is made, and only its amount is counted
    made = [answer for answer in answers if isinstance(answer, ProviderRefund)]
    refused = [answer for answer in answers if isinstance(answer, PaymentProviderFailed)]
    assert (len(made), len(refused)) == (1, 1)
    assert "refund above what is left" in refused[0].message
    assert await sandbox.refunded_amount(payment) == made[0].amount


async def test_refunds_of_unknown_payments_or_in_another_currency_are_refused(
    sandbox: SandboxProvider, customer: str, payment: str
) -> None:
    unpaid = _payment_of(await _open_invoice(sandbox, customer, "topup:2"))
    for unknown in ("pi_x", unpaid):
        with pytest.raises(PaymentProviderFailed, match=f"^sandbox: no such payment {unknown}$"):
            await sandbox.refund(_request(unknown, 100))
    with pytest.raises(PaymentProviderFailed, match=f"payment {payment} is in EUR, not USD"):
        await sandbox.refund(_request(payment, 100, currency="usd"))
    with pytest.raises(PaymentProviderFailed, match="positive amount, not 0"):
        await sandbox.refund(_request(payment, 0))
    assert await sandbox.refunded_amount(payment) == 0


async def test_a_simulated_outage_stores_nothing(
    sandbox: SandboxProvider, redis: Redis, payment: str
) -> None:
    # Given the next refund call fails
    sandbox.fail_next_refund()

    # When a refund is asked, then it raises and nothing was made
    with pytest.raises(PaymentProviderFailed, match="simulated provider outage"):
        await sandbox.refund(_request(payment, 5000))
    assert [key async for key in redis.scan_iter(f"{PREFIX}:refund:*")] == []
    assert await sandbox.refunded_amount(payment) == 0

    # And the retry with the same key makes it
    assert (await sandbox.refund(_request(payment, 5000))).status == "pending"


# -- settling --------------------------------------------------------------------------


async def test_a_succeeded_refund_keeps_its_amount_refunded(
    sandbox: SandboxProvider, payment: str
) -> None:
    refund = await sandbox.refund(_request(payment, AMOUNT))

    settled = await sandbox.settle_refund(refund.reference, "succeeded")

    assert settled == ProviderRefund(
        refund.reference, "succeeded", AMOUNT, "EUR", payment, refund.metadata
    )
    assert await sandbox.retrieve_refund(refund.reference) == settled
    assert await sandbox.settle_refund(refund.reference, "succeeded") == settled
    assert await sandbox.refunded_amount(payment) == AMOUNT
    with pytest.raises(PaymentProviderFailed, match="refund above what is left"):
        await sandbox.refund(_request(payment, 1, "refund:2"))


async def test_a_failed_refund_gives_its_amount_back_once(
    sandbox: SandboxProvider, payment: str
) -> None:
    # Given the whole payment being refunded
    refund = await sandbox.refund(_request(payment, AMOUNT))

    # When the refund fails, and the failure is told twice (once concurrently)
    failed = await sandbox.settle_refund(refund.reference, "failed")
    again = await asyncio.gather(
        *(sandbox.settle_refund(refund.reference, "failed") for _ in range(3))
    )

    # Then it is failed, and its amount is refundable again, given back once only
    assert (failed.status, failed.amount) == ("failed", AMOUNT)
    assert again == [failed] * 3
    assert await sandbox.refunded_amount(payment) == 0
    assert (await sandbox.refund(_request(payment, AMOUNT, "refund:2"))).status == "pending"


async def test_a_final_refund_cannot_be_settled_the_other_way(
    sandbox: SandboxProvider, payment: str
) -> None:
    done = await sandbox.refund(_request(payment, 1000, "refund:1"))
    lost = await sandbox.refund(_request(payment, 1000, "refund:2"))
    await sandbox.settle_refund(done.reference, "succeeded")
    await sandbox.settle_refund(lost.reference, "failed")

    with pytest.raises(PaymentProviderFailed, match=f"{done.reference} as failed: it is succeeded"):
        await sandbox.settle_refund(done.reference, "failed")
    with pytest.raises(PaymentProviderFailed, match=f"{lost.reference} as succeeded: it is failed"):
        await sandbox.settle_refund(lost.reference, "succeeded")
    with pytest.raises(PaymentProviderFailed, match=r"^sandbox: no such refund re_x$"):
        await sandbox.settle_refund("re_x", "succeeded")
    assert await sandbox.refunded_amount(payment) == 1000


# -- the events ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "event_type"), [("succeeded", "refund.updated"), ("failed", "refund.failed")]
)
async def test_refund_event_payload_is_a_signed_stripe_refund_event(
    sandbox: SandboxProvider, payment: str, outcome: str, event_type: str
) -> None:
    # Given a settled refund
    refund = await sandbox.refund(_request(payment, 5000))
    settled = await sandbox.settle_refund(refund.reference, outcome)  # type: ignore[arg-type]

    # When its event body is signed, as the CLI sends it
    payload = SandboxProvider.refund_event_payload(settled, "evt_sandbox_1")
    event = _signed(payload)

    # Then the webhook's own check accepts it, and it has Stripe's shape
    assert b" " not in payload
    assert isinstance(event.pop("created"), int)
    assert event == {
        "id": "evt_sandbox_1",
        "object": "event",
        "type": event_type,
        "data": {
            "object": {
                "id": refund.reference,
                "object": "refund",
                "status": outcome,
                "amount": 5000,
                "currency": "eur",
                "payment_intent": payment,
                "metadata": {"refund_id": "1"},
            }
        },
        "livemode": False,
        "api_version": API_VERSION,
    }


def test_refund_events_get_fresh_ids() -> None:
    refund = ProviderRefund("re_1", "succeeded", 100, "EUR", "pi_1")

    first, second = (json.loads(SandboxProvider.refund_event_payload(refund)) for _ in range(2))

    assert first["id"].startswith("evt_sandbox_")
    assert first["id"] != second["id"]


# -- adledger payments settle-refund ----------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str, db: None) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)


async def test_settle_refund_of_an_unknown_refund_exits_1_with_one_line(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(
        main, ["payments", "settle-refund", "re_x", "--outcome", "succeeded"]
    )

    assert code == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == ["adledger: sandbox: no such refund re_x"]
    assert captured.out == ""


async def test_settle_refund_settles_and_delivers_the_event(
    cli_env: None, sandbox: SandboxProvider, payment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a pending refund
    refund = await sandbox.refund(_request(payment, 5000))

    # When the CLI fails it
    args = ["payments", "settle-refund", refund.reference, "--outcome", "failed"]
    code = await asyncio.to_thread(main, args)

    # Then the refund failed, and its event went through the webhook; the exit code says
    # whether the webhook acted on it (IGNORED until refund events are handled)
    assert (await sandbox.retrieve_refund(refund.reference)).status == "failed"
    out = capsys.readouterr().out.strip()
    found = re.fullmatch(rf"{refund.reference}: refund\.failed delivered, ([A-Z]+)", out)
    assert found is not None, out
    assert code == (0 if found[1] in ("PROCESSED", "DUPLICATE") else 1)


async def test_settle_refund_to_a_dead_url_leaves_the_refund_pending(
    cli_env: None, sandbox: SandboxProvider, payment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refund = await sandbox.refund(_request(payment, 5000))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"

    args = ["payments", "settle-refund", refund.reference, "--outcome", "succeeded"]
    code = await asyncio.to_thread(main, [*args, "--url", dead])

    assert code == 2
    assert capsys.readouterr().err.strip().startswith(f"adledger: nothing answers at {dead}")
    assert (await sandbox.retrieve_refund(refund.reference)).status == "pending"


async def test_settle_refund_refuses_when_stripe_is_configured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PAYMENT_PROVIDER")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_x")

    args = ["payments", "settle-refund", "re_x", "--outcome", "succeeded"]
    assert await asyncio.to_thread(main, args) == 2
    assert capsys.readouterr().err.strip() == (
        "adledger: STRIPE_API_KEY is set: real refunds are settled at Stripe, not here "
        "(PAYMENT_PROVIDER=sandbox settles sandbox refunds)"
    )
