"""A payment provider with no network, for local runs, the demo and tests.

Invoices live in Redis rather than in memory so that another process (the
`adledger payments simulate` CLI) can settle an invoice the API process created.
References are derived from the idempotency key, and stored with SET NX, so a retried
`create_invoice` returns the invoice the first attempt made, as Stripe would.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

import stripe
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from adledger.domain.errors import PaymentProviderFailed
from adledger.payments.port import CustomerRequest, InvoiceRequest, ProviderInvoice

PREFIX = "adledger:sandbox"
HOSTED_BASE = "http://sandbox.invalid/invoices"
API_VERSION: str = stripe.api_version
"""What the sandbox's events claim: the API version the installed stripe SDK pins."""

EVENT_FOR_OUTCOME = {"paid": "invoice.paid", "failed": "invoice.payment_failed"}

Record = dict[str, Any]


class SandboxProvider:
    """`PaymentProvider` kept in Redis, plus `settle` to play the customer paying."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._failures_left = 0
        self._fail_after_create = False

    def fail_next(self, n: int, *, after_create: bool = False) -> None:
        """Make the next `n` create_invoice calls raise, as in a provider outage.

        With `after_create` the invoice is stored before the call fails: the provider
        made it but the answer was lost, which only a retry with the same key repairs.
        """
        self._failures_left = n
        self._fail_after_create = after_create

    async def create_customer(self, request: CustomerRequest) -> str:
        reference = f"cus_sandbox_{_digest(request.key)}"
        await self._redis.set(f"{PREFIX}:customer:{request.key}", reference, nx=True)
        return reference

    async def create_invoice(self, request: InvoiceRequest) -> ProviderInvoice:
        failing = self._take_failure()
        if failing and not self._fail_after_create:
            raise PaymentProviderFailed("sandbox: simulated provider outage")
        invoice = await self._store_once(request)
        if failing:
            raise PaymentProviderFailed("sandbox: simulated outage after the invoice was made")
        return invoice

    async def retrieve_invoice(self, reference: str) -> ProviderInvoice:
        return _from_record(await self._load(reference))

    async def void_invoice(self, reference: str, key: str) -> ProviderInvoice:
        """Open becomes void; voiding a void invoice again answers it unchanged."""
        return await self._update(reference, _void)

    async def settle(
        self, reference: str, outcome: Literal["paid", "failed"]
    ) -> tuple[ProviderInvoice, str]:
        """The customer pays (or the payment fails); returns the invoice and event type."""
        if outcome not in EVENT_FOR_OUTCOME:
            raise PaymentProviderFailed(f"sandbox: unknown outcome {outcome!r}")
        change = _pay if outcome == "paid" else _fail
        return await self._update(reference, change), EVENT_FOR_OUTCOME[outcome]

    @staticmethod
    def event_payload(
        invoice: ProviderInvoice, event_type: str, event_id: str | None = None
    ) -> bytes:
        """The body Stripe would POST to the webhook for this invoice (sign it to send)."""
        event = {
            "id": event_id or f"evt_sandbox_{uuid.uuid4().hex}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": _stripe_invoice(invoice)},
            "livemode": False,
            "api_version": API_VERSION,
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def _take_failure(self) -> bool:
        if self._failures_left <= 0:
            return False
        self._failures_left -= 1
        return True

    async def _store_once(self, request: InvoiceRequest) -> ProviderInvoice:
        """SET NX: the first call with a key makes the invoice, later calls read it back."""
        reference = f"in_sandbox_{_digest(f'{request.key}:invoice')}"
        record = _new_record(reference, request)
        key = _invoice_key(reference)
        if not await self._redis.set(key, json.dumps(record), nx=True):
            record = await self._load(reference)
            if record["request"] != _fingerprint(request):
                raise PaymentProviderFailed(
                    f"sandbox: idempotency key {request.key}:invoice was already used with "
                    "different parameters (flush the sandbox after resetting the database)"
                )
        return _from_record(record)

    async def _load(self, reference: str) -> Record:
        raw = await self._redis.get(_invoice_key(reference))
        if raw is None:
            raise PaymentProviderFailed(f"sandbox: no such invoice {reference}")
        record: Record = json.loads(raw)
        return record

    async def _update(self, reference: str, change: Callable[[Record], Record]) -> ProviderInvoice:
        """Read, change and write one invoice atomically (WATCH/MULTI, retried on races)."""
        key = _invoice_key(reference)

        async def apply(pipe: Pipeline) -> Record:
            raw = await pipe.get(key)
            if raw is None:
                raise PaymentProviderFailed(f"sandbox: no such invoice {reference}")
            record: Record = change(json.loads(raw))
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, json.dumps(record))
            return record

        record = await self._redis.transaction(apply, key, value_from_callable=True)
        return _from_record(record)


def _pay(record: Record) -> Record:
    _require_status(record, "pay", {"open", "paid"})
    return {**record, "status": "paid", "amount_paid": record["amount_due"]}


def _fail(record: Record) -> Record:
    """A failed attempt leaves the invoice open and unpaid, so it can be paid later."""
    _require_status(record, "fail the payment of", {"open"})
    return {**record, "amount_paid": 0}


def _void(record: Record) -> Record:
    _require_status(record, "void", {"open", "void"})
    return {**record, "status": "void"}


def _require_status(record: Record, action: str, allowed: set[str]) -> None:
    if record["status"] not in allowed:
        raise PaymentProviderFailed(
            f"sandbox: cannot {action} invoice {record['reference']}: it is {record['status']}"
        )


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _invoice_key(reference: str) -> str:
    return f"{PREFIX}:invoice:{reference}"


def _fingerprint(request: InvoiceRequest) -> Record:
    """What a retry must repeat for Stripe to accept the same idempotency key."""
    return asdict(request)


def _new_record(reference: str, request: InvoiceRequest) -> Record:
    return {
        "reference": reference,
        "status": "open",
        "currency": request.currency.upper(),
        "amount_due": request.amount_minor,
        "amount_paid": 0,
        "hosted_url": f"{HOSTED_BASE}/{reference}",
        "metadata": dict(request.metadata),
        "customer": request.customer_reference,
        "request": _fingerprint(request),
    }


def _from_record(record: Record) -> ProviderInvoice:
    return ProviderInvoice(
        reference=record["reference"],
        status=record["status"],
        currency=record["currency"],
        amount_due=record["amount_due"],
        amount_paid=record["amount_paid"],
        hosted_url=record["hosted_url"],
        metadata=dict(record["metadata"]),
    )


def _stripe_invoice(invoice: ProviderInvoice) -> Record:
    return {
        "id": invoice.reference,
        "object": "invoice",
        "status": invoice.status,
        "amount_due": invoice.amount_due,
        "amount_paid": invoice.amount_paid,
        "currency": invoice.currency.lower(),
        "hosted_invoice_url": invoice.hosted_url,
        "metadata": dict(invoice.metadata),
    }
