"""The payment adapters: Stripe against a local HTTP fake, webhook signing, the sandbox.

The Stripe tests assert what the official SDK really puts on the wire (paths, form
fields, Idempotency-Key headers), since that is what Stripe will see in production.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import stripe
from pytest_httpserver import HTTPServer
from redis.asyncio import Redis
from werkzeug import Request

from adledger.domain.errors import PaymentProviderFailed
from adledger.payments.port import CustomerRequest, InvoiceRequest, ProviderInvoice
from adledger.payments.sandbox import SandboxProvider
from adledger.payments.signing import InvalidSignature, sign_payload, verify_event
from adledger.payments.stripe_provider import StripeProvider

API_KEY = "sk_test_adledgerFakeKey0123456789"
SECRET = "whsec_test_secret"

REQUEST = InvoiceRequest(
    key="topup:12",
    customer_reference="cus_123",
    currency="USD",
    amount_minor=80000,
    description="Credit balance top-up",
    metadata={"topup_id": "12", "wallet_id": "3"},
    days_until_due=7,
)


def invoice_json(status: str = "open", invoice_id: str = "in_123", **extra: Any) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "status": status,
        "currency": "usd",
        "amount_due": 80000,
        "amount_paid": 80000 if status == "paid" else 0,
        "hosted_invoice_url": f"https://invoice.stripe.test/{invoice_id}",
        "metadata": {"topup_id": "12", "wallet_id": "3"},
        **extra,
    }


def stripe_error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def form(request: Request) -> dict[str, str]:
    return dict(parse_qsl(request.get_data(as_text=True)))


def sent(server: HTTPServer) -> list[tuple[str, str, str | None]]:
    return [(r.method, r.path, r.headers.get("Idempotency-Key")) for r, _ in server.log]


def expect_invoice_flow(server: HTTPServer, item_status: int = 200) -> None:
    server.expect_request("/v1/invoices", method="POST").respond_with_json(invoice_json("draft"))
    item = {"id": "ii_1", "object": "invoiceitem"}
    body = item if item_status == 200 else stripe_error("api_error", "try again")
    server.expect_request("/v1/invoiceitems", method="POST").respond_with_json(
        body, status=item_status
    )
    server.expect_request("/v1/invoices/in_123/finalize", method="POST").respond_with_json(
        invoice_json("open")
    )


@pytest.fixture
async def provider(httpserver: HTTPServer) -> AsyncIterator[StripeProvider]:
    base = f"http://{httpserver.host}:{httpserver.port}"
    async with StripeProvider(API_KEY, api_base=base, max_network_retries=0) as stripe_provider:
        yield stripe_provider


async def test_create_invoice_sends_invoice_then_item_then_finalize(
    provider: StripeProvider, httpserver: HTTPServer
) -> None:
    expect_invoice_flow(httpserver)

    invoice = await provider.create_invoice(REQUEST)

    assert sent(httpserver) == [
        ("POST", "/v1/invoices", "topup:12:invoice"),
        ("POST", "/v1/invoiceitems", "topup:12:item"),
        ("POST", "/v1/invoices/in_123/finalize", "topup:12:finalize"),
    ]
    (create, _), (item, _), (finalize, _) = httpserver.log
    assert form(create) == {
        "customer": "cus_123",
        "currency": "usd",
        "collection_method": "send_invoice",
        "days_until_due": "7",
        "auto_advance": "false",
        "pending_invoice_items_behavior": "exclude",
        "description": "Credit balance top-up",
        "metadata[topup_id]": "12",
        "metadata[wallet_id]": "3",
    }
    assert form(item) == {
        "customer": "cus_123",
        "invoice": "in_123",
        "amount": "80000",
        "currency": "usd",
        "description": "Credit balance top-up",
        "metadata[topup_id]": "12",
        "metadata[wallet_id]": "3",
    }
    assert form(finalize) == {}
    assert create.headers["Authorization"] == f"Bearer {API_KEY}"
    assert invoice == ProviderInvoice(
        reference="in_123",
        status="open",
        currency="USD",
        amount_due=80000,
        amount_paid=0,
        hosted_url="https://invoice.stripe.test/in_123",
        metadata={"topup_id": "12", "wallet_id": "3"},
    )


async def test_create_customer(provider: StripeProvider, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/customers", method="POST").respond_with_json(
        {"id": "cus_9", "object": "customer"}
    )
    request = CustomerRequest(
        key="business-center:7", name="Acme", email="billing@acme.test", metadata={"bc": "7"}
    )

    assert await provider.create_customer(request) == "cus_9"

    assert sent(httpserver) == [("POST", "/v1/customers", "business-center:7:customer")]
    assert form(httpserver.log[0][0]) == {
        "name": "Acme",
        "email": "billing@acme.test",
        "metadata[bc]": "7",
    }


async def test_retrieve_is_a_get_without_idempotency_key(
    provider: StripeProvider, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/invoices/in_123", method="GET").respond_with_json(
        invoice_json("paid")
    )

    invoice = await provider.retrieve_invoice("in_123")

    assert sent(httpserver) == [("GET", "/v1/invoices/in_123", None)]
    assert (invoice.status, invoice.amount_paid, invoice.currency) == ("paid", 80000, "USD")


async def test_void(provider: StripeProvider, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/invoices/in_123/void", method="POST").respond_with_json(
        invoice_json("void")
    )

    invoice = await provider.void_invoice("in_123", "campaign:5:shortfall")

    assert sent(httpserver) == [("POST", "/v1/invoices/in_123/void", "campaign:5:shortfall:void")]
    assert invoice.status == "void"


async def test_retry_after_a_failure_sends_the_same_idempotency_keys(
    provider: StripeProvider, httpserver: HTTPServer
) -> None:
    expect_invoice_flow(httpserver, item_status=500)
    with pytest.raises(PaymentProviderFailed):
        await provider.create_invoice(REQUEST)
    httpserver.clear_all_handlers()
    expect_invoice_flow(httpserver)

    await provider.create_invoice(REQUEST)

    assert sent(httpserver) == [
        ("POST", "/v1/invoices", "topup:12:invoice"),
        ("POST", "/v1/invoiceitems", "topup:12:item"),
        ("POST", "/v1/invoices", "topup:12:invoice"),
        ("POST", "/v1/invoiceitems", "topup:12:item"),
        ("POST", "/v1/invoices/in_123/finalize", "topup:12:finalize"),
    ]
    first, retried = httpserver.log[0][0], httpserver.log[2][0]
    assert form(first) == form(retried)


@pytest.mark.parametrize(
    ("status", "kind", "kind_name"),
    [
        (500, "api_error", "APIError"),
        (429, "rate_limit_error", "RateLimitError"),
        (400, "invalid_request_error", "InvalidRequestError"),
    ],
)
async def test_error_answers_become_payment_provider_failed(
    provider: StripeProvider, httpserver: HTTPServer, status: int, kind: str, kind_name: str
) -> None:
    httpserver.expect_request("/v1/invoices", method="POST").respond_with_json(
        stripe_error(kind, "something went wrong"), status=status, headers={"Request-Id": "req_1"}
    )

    with pytest.raises(PaymentProviderFailed) as failure:
        await provider.create_invoice(REQUEST)

    message = failure.value.message
    assert message.startswith(f"Stripe could not create the invoice ({kind_name}, HTTP {status}")
    assert "request req_1" in message
    assert "something went wrong" in message


async def test_error_messages_never_carry_the_api_key(
    provider: StripeProvider, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/invoices/in_1", method="GET").respond_with_json(
        stripe_error("invalid_request_error", f"Invalid API Key provided: {API_KEY}"), status=401
    )

    with pytest.raises(PaymentProviderFailed) as failure:
        await provider.retrieve_invoice("in_1")

    assert "AuthenticationError" in failure.value.message
    assert "sk_test" not in failure.value.message


async def test_unexpected_invoice_shape_is_a_provider_failure(
    provider: StripeProvider, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/invoices/in_123", method="GET").respond_with_json(
        invoice_json(amount_due="lots")
    )

    with pytest.raises(PaymentProviderFailed, match="unexpected invoice"):
        await provider.retrieve_invoice("in_123")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_connection_refused_is_a_provider_failure() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    async with StripeProvider(API_KEY, api_base=base, max_network_retries=0) as unreachable:
        with pytest.raises(PaymentProviderFailed, match=r"APIConnectionError.*ConnectError"):
            await unreachable.create_invoice(REQUEST)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel's backlog does) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


async def test_timeout_is_a_provider_failure(silent_server: str) -> None:
    async with StripeProvider(
        API_KEY, api_base=silent_server, timeout_seconds=0.2, max_network_retries=0
    ) as slow:
        started = time.monotonic()
        with pytest.raises(PaymentProviderFailed, match="ReadTimeout"):
            await slow.create_customer(CustomerRequest(key="business-center:1", name="Acme"))
    assert time.monotonic() - started < 5


# Webhook signatures ---------------------------------------------------------------

EVENT = json.dumps(
    {"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}
).encode()


def test_signature_is_the_one_stripe_computes() -> None:
    header = sign_payload(EVENT, SECRET, timestamp=1_700_000_000)

    assert re.fullmatch(r"t=1700000000,v1=[0-9a-f]{64}", header)
    expected = stripe.WebhookSignature.generate_signature_header(
        EVENT.decode(), SECRET, timestamp=1_700_000_000
    )
    assert header == expected


def test_signed_event_is_accepted_by_stripe_and_by_verify_event() -> None:
    header = sign_payload(EVENT, SECRET)

    assert stripe.Webhook.construct_event(EVENT, header, SECRET).id == "evt_1"
    event = verify_event(EVENT, header, SECRET)
    assert event == json.loads(EVENT)
    assert type(event) is dict


@pytest.mark.parametrize(
    ("payload", "header", "secret"),
    [
        pytest.param(
            EVENT.replace(b"evt_1", b"evt_2"), sign_payload(EVENT, SECRET), SECRET, id="tampered"
        ),
        pytest.param(EVENT, sign_payload(EVENT, "whsec_other"), SECRET, id="wrong-secret"),
        pytest.param(EVENT, None, SECRET, id="missing-header"),
        pytest.param(EVENT, "", SECRET, id="empty-header"),
        pytest.param(EVENT, "v1=abc", SECRET, id="no-timestamp"),
        pytest.param(b"{not json", sign_payload(b"{not json", SECRET), SECRET, id="not-json"),
        pytest.param(b"[1, 2]", sign_payload(b"[1, 2]", SECRET), SECRET, id="not-an-object"),
    ],
)
def test_bad_signatures_are_refused(payload: bytes, header: str | None, secret: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_event(payload, header, secret)


def test_stale_signature_is_refused() -> None:
    stale = sign_payload(EVENT, SECRET, timestamp=int(time.time()) - 301)

    with pytest.raises(InvalidSignature, match="tolerance"):
        verify_event(EVENT, stale, SECRET, tolerance=300)
    recent = sign_payload(EVENT, SECRET, timestamp=int(time.time()) - 200)
    assert verify_event(EVENT, recent, SECRET, tolerance=300)["id"] == "evt_1"


# Sandbox (real Redis) -------------------------------------------------------------


@pytest.fixture
async def sandbox(db: None, redis_url: str) -> AsyncIterator[SandboxProvider]:
    redis = Redis.from_url(redis_url)
    yield SandboxProvider(redis)
    await redis.aclose()


async def test_sandbox_invoice_is_paid_by_settle(sandbox: SandboxProvider) -> None:
    created = await sandbox.create_invoice(REQUEST)

    assert re.fullmatch(r"in_sandbox_[0-9a-f]{24}", created.reference)
    assert created.hosted_url == f"http://sandbox.invalid/invoices/{created.reference}"
    assert (created.status, created.currency, created.amount_due, created.amount_paid) == (
        "open",
        "USD",
        80000,
        0,
    )
    assert created.metadata == REQUEST.metadata
    assert await sandbox.retrieve_invoice(created.reference) == created

    paid, event_type = await sandbox.settle(created.reference, "paid")

    assert event_type == "invoice.paid"
    assert (paid.status, paid.amount_paid) == ("paid", 80000)
    assert await sandbox.retrieve_invoice(created.reference) == paid


async def test_sandbox_is_shared_between_processes(
    sandbox: SandboxProvider, redis_url: str
) -> None:
    """The CLI settles with its own Redis client what the API process created."""
    created = await sandbox.create_invoice(REQUEST)
    other_redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        paid, _ = await SandboxProvider(other_redis).settle(created.reference, "paid")
    finally:
        await other_redis.aclose()

    assert (await sandbox.retrieve_invoice(created.reference)) == paid


async def test_sandbox_same_key_same_invoice(sandbox: SandboxProvider, redis_url: str) -> None:
    first = await sandbox.create_invoice(REQUEST)
    again = await sandbox.create_invoice(REQUEST)
    other = await sandbox.create_invoice(
        InvoiceRequest("topup:13", "cus_123", "USD", 1000, "Credit balance top-up")
    )

    assert again == first
    assert other.reference != first.reference
    redis = Redis.from_url(redis_url)
    try:
        assert len(await redis.keys("adledger:sandbox:invoice:*")) == 2
    finally:
        await redis.aclose()


async def test_sandbox_refuses_a_reused_key_with_another_amount(sandbox: SandboxProvider) -> None:
    await sandbox.create_invoice(REQUEST)
    changed = InvoiceRequest(REQUEST.key, "cus_123", "USD", 1, "Credit balance top-up")

    with pytest.raises(PaymentProviderFailed, match="different parameters"):
        await sandbox.create_invoice(changed)


async def test_sandbox_failed_payment_leaves_the_invoice_open(sandbox: SandboxProvider) -> None:
    created = await sandbox.create_invoice(REQUEST)

    failed, event_type = await sandbox.settle(created.reference, "failed")

    assert event_type == "invoice.payment_failed"
    assert (failed.status, failed.amount_paid) == ("open", 0)
    paid, _ = await sandbox.settle(created.reference, "paid")
    assert paid.status == "paid"


async def test_sandbox_void(sandbox: SandboxProvider) -> None:
    created = await sandbox.create_invoice(REQUEST)

    voided = await sandbox.void_invoice(created.reference, REQUEST.key)

    assert voided.status == "void"
    assert (await sandbox.retrieve_invoice(created.reference)).status == "void"
    with pytest.raises(PaymentProviderFailed, match="it is void"):
        await sandbox.settle(created.reference, "paid")


async def test_sandbox_cannot_void_a_paid_invoice(sandbox: SandboxProvider) -> None:
    created = await sandbox.create_invoice(REQUEST)
    await sandbox.settle(created.reference, "paid")

    with pytest.raises(PaymentProviderFailed, match="it is paid"):
        await sandbox.void_invoice(created.reference, REQUEST.key)


async def test_sandbox_unknown_reference(sandbox: SandboxProvider) -> None:
    with pytest.raises(PaymentProviderFailed, match="no such invoice"):
        await sandbox.retrieve_invoice("in_sandbox_nope")
    with pytest.raises(PaymentProviderFailed, match="no such invoice"):
        await sandbox.settle("in_sandbox_nope", "paid")


async def test_sandbox_fail_next(sandbox: SandboxProvider) -> None:
    sandbox.fail_next(2)

    for _ in range(2):
        with pytest.raises(PaymentProviderFailed, match="outage"):
            await sandbox.create_invoice(REQUEST)
    invoice = await sandbox.create_invoice(REQUEST)

    assert invoice.status == "open"


async def test_sandbox_fail_after_create_is_repaired_by_a_retry(sandbox: SandboxProvider) -> None:
    sandbox.fail_next(1, after_create=True)
    with pytest.raises(PaymentProviderFailed):
        await sandbox.create_invoice(REQUEST)

    invoice = await sandbox.create_invoice(REQUEST)

    paid, _ = await sandbox.settle(invoice.reference, "paid")
    assert paid.reference == invoice.reference


async def test_sandbox_customer_reference_is_stable(sandbox: SandboxProvider) -> None:
    request = CustomerRequest(key="business-center:7", name="Acme")

    first = await sandbox.create_customer(request)

    assert re.fullmatch(r"cus_sandbox_[0-9a-f]{24}", first)
    assert await sandbox.create_customer(request) == first


async def test_sandbox_event_is_stripe_shaped_and_verifies(sandbox: SandboxProvider) -> None:
    created = await sandbox.create_invoice(REQUEST)
    paid, event_type = await sandbox.settle(created.reference, "paid")

    payload = SandboxProvider.event_payload(paid, event_type, event_id="evt_sandbox_1")
    event = verify_event(payload, sign_payload(payload, SECRET), SECRET)

    assert stripe.Webhook.construct_event(payload, sign_payload(payload, SECRET), SECRET)
    assert event["id"] == "evt_sandbox_1"
    assert (event["object"], event["type"], event["livemode"]) == ("event", "invoice.paid", False)
    assert isinstance(event["created"], int)
    assert event["api_version"] == stripe.api_version
    assert event["data"]["object"] == {
        "id": created.reference,
        "object": "invoice",
        "status": "paid",
        "amount_due": 80000,
        "amount_paid": 80000,
        "currency": "usd",
        "hosted_invoice_url": created.hosted_url,
        "metadata": {"topup_id": "12", "wallet_id": "3"},
    }
    generated = json.loads(SandboxProvider.event_payload(paid, event_type))
    assert generated["id"].startswith("evt_") and generated["id"] != "evt_sandbox_1"
