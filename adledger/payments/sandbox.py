"""A payment provider with no network, for local runs, the demo and tests.

Invoices live in Redis rather than in memory so that another process (the
`adledger payments simulate` CLI) can settle an invoice the API process created.
References are derived from the idempotency key, and stored with SET NX, so a retried
`create_invoice` returns the invoice the first attempt made, as Stripe would.

Saved cards work the same way: `create_card_setup` stores a SetupIntent, the
`adledger payments attach-card` CLI plays Stripe.js with `confirm_card_setup`, and
`charge_invoice` pays with the card at most once per idempotency key.

A paid invoice has a payment (`pi_sandbox_...`) that `refund` gives back from, never
more than is left of it; refunds stay pending until `settle_refund` (the
`adledger payments settle-refund` CLI) plays the bank's answer. What refunds decide is
in `sandbox_refunds`; their state, like the rest, is kept here in Redis.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

import stripe
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from adledger import clock
from adledger.domain.errors import PaymentDeclined, PaymentProviderFailed
from adledger.payments import sandbox_refunds as refunds
from adledger.payments.port import (
    Card,
    CardSetup,
    CardSetupRequest,
    CustomerRequest,
    InvoiceRequest,
    ProviderInvoice,
    ProviderRefund,
    RefundRequest,
)
from adledger.payments.sandbox_refunds import RefundOutcome

PREFIX = "adledger:sandbox"
HOSTED_BASE = "http://sandbox.invalid/invoices"
API_VERSION: str = stripe.api_version
"""What the sandbox's events claim: the API version the installed stripe SDK pins."""

EVENT_FOR_OUTCOME = {"paid": "invoice.paid", "failed": "invoice.payment_failed"}
SETUP_SUCCEEDED = "setup_intent.succeeded"
CENTER_METADATA = "adledger_business_center_id"
"""The metadata entry that files a card setup under its business center."""
DECLINED = "sandbox: the card was declined (card_declined)"
SETUP_SEQUENCE = f"{PREFIX}:setup-sequence"
"""Ranks card setups by when they were made, across processes."""

Record = dict[str, Any]


class SandboxProvider:
    """`PaymentProvider` kept in Redis, plus `settle` to play the customer paying."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._failures_left = 0
        self._fail_after_create = False
        self._fail_next_refund = False

    def fail_next(self, n: int, *, after_create: bool = False) -> None:
        """Make the next `n` create_invoice calls raise, as in a provider outage.

        With `after_create` the invoice is stored before the call fails: the provider
        made it but the answer was lost, which only a retry with the same key repairs.
        """
        self._failures_left = n
        self._fail_after_create = after_create

    def fail_next_refund(self) -> None:
        """Make the next `refund` call raise before storing anything, as in an outage."""
        self._fail_next_refund = True

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

    async def create_card_setup(self, request: CardSetupRequest) -> CardSetup:
        """Stored once per key (SET NX), and filed under its business center."""
        reference = f"seti_sandbox_{_digest(f'{request.key}:setup_intent')}"
        record = _new_setup(reference, request, await self._redis.incr(SETUP_SEQUENCE))
        if not await self._redis.set(_setup_key(reference), json.dumps(record), nx=True):
            record = await self._load_setup(reference)
            _require_same_request(record, asdict(request), f"{request.key}:setup_intent")
        await self._file_setup(record)
        return _to_card_setup(record)

    async def retrieve_card_setup(self, reference: str) -> CardSetup:
        return _to_card_setup(await self._load_setup(reference))

    async def retrieve_card(self, reference: str) -> Card:
        return _to_card(await self._load_card(reference))

    async def latest_card_setup(self, center_id: int | str) -> CardSetup | None:
        """The newest setup whose metadata names this business center, if any."""
        newest = await self._redis.zrange(_center_setups_key(center_id), -1, -1)
        return await self.retrieve_card_setup(_text(newest[0])) if newest else None

    async def confirm_card_setup(
        self, reference: str, *, declining: bool = False
    ) -> tuple[CardSetup, Card]:
        """Stripe.js saving a new card (`declining`: one every charge declines) on the
        setup's customer; a setup that already succeeded answers unchanged, no second card."""
        key = _setup_key(reference)

        async def apply(pipe: Pipeline) -> Record:
            setup = _parse(await pipe.get(key), "card setup", reference)
            if setup["status"] == "succeeded":
                return setup
            card = _new_card(setup["customer"], declining)
            setup = {**setup, "status": "succeeded", "payment_method": card["reference"]}
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(_card_key(card["reference"]), json.dumps(card))
            pipe.set(key, json.dumps(setup))
            return setup

        setup = await self._redis.transaction(apply, key, value_from_callable=True)
        return _to_card_setup(setup), await self.retrieve_card(setup["payment_method"])

    async def charge_invoice(self, reference: str, card: str, key: str) -> ProviderInvoice:
        """Pays an open invoice with a saved card, at most once per key: a repeated key
        answers the first outcome (a decline included) and charges nothing more."""
        outcome = await self._charge_once(reference, await self._load_card(card), key)
        if outcome["declined"]:
            raise PaymentDeclined(DECLINED)
        return _from_record(outcome["invoice"])

    async def charges_made(self, reference: str) -> int:
        """How many charges `charge_invoice` actually made on this invoice."""
        return int(await self._redis.get(_charges_key(reference)) or 0)

    async def settle(
        self, reference: str, outcome: Literal["paid", "failed"]
    ) -> tuple[ProviderInvoice, str]:
        """The customer pays (or the payment fails); returns the invoice and event type."""
        if outcome not in EVENT_FOR_OUTCOME:
            raise PaymentProviderFailed(f"sandbox: unknown outcome {outcome!r}")
        change = _pay if outcome == "paid" else _fail
        return await self._update(reference, change), EVENT_FOR_OUTCOME[outcome]

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        """A pending refund, stored once per key, never above what is left of the payment."""
        if self._fail_next_refund:
            self._fail_next_refund = False
            raise PaymentProviderFailed("sandbox: simulated provider outage")
        return refunds.to_refund(await self._refund_once(request))

    async def retrieve_refund(self, reference: str) -> ProviderRefund:
        return refunds.to_refund(await self._load_refund(reference))

    async def settle_refund(self, reference: str, outcome: RefundOutcome) -> ProviderRefund:
        """The bank's answer: pending becomes succeeded or failed, and a failed refund gives
        its amount back to what is left of the payment; the same answer again changes
        nothing, the other one after it is refused."""
        key = _refund_key(reference)

        async def apply(pipe: Pipeline) -> Record:
            before = _parse(await pipe.get(key), "refund", reference)
            after = refunds.settled(before, outcome)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, json.dumps(after))
            if freed := refunds.freed(before, after):
                pipe.decrby(_refunded_key(after["payment_reference"]), freed)
            return after

        record = await self._redis.transaction(apply, key, value_from_callable=True)
        return refunds.to_refund(record)

    async def refunded_amount(self, payment_reference: str) -> int:
        """What the refunds of a payment hold, pending or succeeded (not the failed ones)."""
        return int(await self._redis.get(_refunded_key(payment_reference)) or 0)

    @staticmethod
    def event_payload(
        invoice: ProviderInvoice, event_type: str, event_id: str | None = None
    ) -> bytes:
        """The body Stripe would POST to the webhook for this invoice (sign it to send)."""
        return _event_body(event_type, _stripe_invoice(invoice), event_id)

    @staticmethod
    def setup_event_payload(setup: CardSetup, event_id: str | None = None) -> bytes:
        """The body Stripe would POST for `setup_intent.succeeded` (sign it to send)."""
        return _event_body(SETUP_SUCCEEDED, _stripe_setup_intent(setup), event_id)

    @staticmethod
    def refund_event_payload(refund: ProviderRefund, event_id: str | None = None) -> bytes:
        """The body Stripe would POST for the refund: refund.updated, or refund.failed."""
        data_object = refunds.stripe_refund(refund)
        return _event_body(refunds.refund_event_type(refund), data_object, event_id)

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
            _require_same_request(record, _fingerprint(request), f"{request.key}:invoice")
        return _from_record(record)

    async def _load(self, reference: str) -> Record:
        return _parse(await self._redis.get(_invoice_key(reference)), "invoice", reference)

    async def _load_setup(self, reference: str) -> Record:
        return _parse(await self._redis.get(_setup_key(reference)), "card setup", reference)

    async def _load_card(self, reference: str) -> Record:
        return _parse(await self._redis.get(_card_key(reference)), "card", reference)

    async def _load_refund(self, reference: str) -> Record:
        return _parse(await self._redis.get(_refund_key(reference)), "refund", reference)

    async def _file_setup(self, setup: Record) -> None:
        """Index the setup under its center, ranked by when it was made; a retry after a
        lost answer files it again at its first rank (ZADD NX)."""
        center = setup["metadata"].get(CENTER_METADATA)
        if center:
            ranked = {setup["reference"]: setup["sequence"]}
            await self._redis.zadd(_center_setups_key(center), ranked, nx=True)

    async def _charge_once(self, reference: str, card: Record, key: str) -> Record:
        """The outcome stored under `key`, or a new one: stored (SET NX), and with the
        invoice paid and the charge counted when money was taken, all in one transaction."""
        invoice_key, outcome_key = _invoice_key(reference), _charge_key(key)
        request = {"invoice": reference, "card": card["reference"]}

        async def apply(pipe: Pipeline) -> Record:
            stored = await pipe.get(outcome_key)
            if stored is not None:
                return _require_same_request(json.loads(stored), request, f"{key}:pay")
            outcome = _charge(_parse(await pipe.get(invoice_key), "invoice", reference), card)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(outcome_key, json.dumps({**outcome, "request": request}), nx=True)
            if outcome["charged"]:
                pipe.set(invoice_key, json.dumps(outcome["invoice"]))
                _file_payment(pipe, outcome["invoice"])
                pipe.incr(_charges_key(reference))
            return outcome

        watched = (invoice_key, outcome_key)
        outcome: Record = await self._redis.transaction(apply, *watched, value_from_callable=True)
        return outcome

    async def _update(self, reference: str, change: Callable[[Record], Record]) -> ProviderInvoice:
        """Read, change and write one invoice atomically (WATCH/MULTI, retried on races)."""
        key = _invoice_key(reference)

        async def apply(pipe: Pipeline) -> Record:
            record = change(_parse(await pipe.get(key), "invoice", reference))
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, json.dumps(record))
            _file_payment(pipe, record)
            return record

        record = await self._redis.transaction(apply, key, value_from_callable=True)
        return _from_record(record)

    async def _refund_once(self, request: RefundRequest) -> Record:
        """The refund stored under the key, or a new one: checked against what is left of
        the payment and stored with its amount counted, in one transaction (WATCH/MULTI,
        retried on races, so two refunds at once cannot both take the last of it)."""
        reference = f"re_sandbox_{_digest(request.key)}"
        payment = request.payment_reference
        key = _refund_key(reference)
        payment_key, refunded_key = _payment_key(payment), _refunded_key(payment)

        async def apply(pipe: Pipeline) -> Record:
            stored = await pipe.get(key)
            if stored is not None:
                return _require_same_request(json.loads(stored), asdict(request), request.key)
            paid = _parse(await pipe.get(payment_key), "payment", payment)
            refunds.check_refundable(paid, int(await pipe.get(refunded_key) or 0), request)
            record = refunds.new_refund(reference, request)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, json.dumps(record), nx=True)
            pipe.incrby(refunded_key, request.amount_minor)
            return record

        watched = (key, payment_key, refunded_key)
        record: Record = await self._redis.transaction(apply, *watched, value_from_callable=True)
        return record


def _file_payment(pipe: Pipeline, invoice: Record) -> None:
    """Index a paid invoice's payment by its reference, for refunds to find."""
    if invoice.get("payment_reference"):
        payment = refunds.payment_of(invoice)
        pipe.set(_payment_key(payment["reference"]), json.dumps(payment))


def _pay(record: Record) -> Record:
    _require_status(record, "pay", {"open", "paid"})
    payment = f"pi_sandbox_{_digest(record['reference'])}"
    return {
        **record,
        "status": "paid",
        "amount_paid": record["amount_due"],
        "payment_reference": payment,
    }


def _fail(record: Record) -> Record:
    """A failed attempt leaves the invoice open and unpaid, so it can be paid later."""
    _require_status(record, "fail the payment of", {"open"})
    return {**record, "amount_paid": 0}


def _void(record: Record) -> Record:
    _require_status(record, "void", {"open", "void"})
    return {**record, "status": "void"}


def _charge(invoice: Record, card: Record) -> Record:
    """What charging the invoice with the card comes to; nothing is written here."""
    _require_status(invoice, "charge", {"open", "paid"})
    if invoice["status"] == "paid":
        return {"charged": False, "declined": False, "invoice": invoice}
    if card["customer"] != invoice["customer"]:
        raise PaymentProviderFailed(
            f"sandbox: card {card['reference']} does not belong to the customer of "
            f"invoice {invoice['reference']}"
        )
    if card["declining"]:
        return {"charged": False, "declined": True, "invoice": invoice}
    return {"charged": True, "declined": False, "invoice": _pay(invoice)}


def _require_status(record: Record, action: str, allowed: set[str]) -> None:
    if record["status"] not in allowed:
        raise PaymentProviderFailed(
            f"sandbox: cannot {action} invoice {record['reference']}: it is {record['status']}"
        )


def _require_same_request(record: Record, request: Record, key: str) -> Record:
    """A reused idempotency key must come with the parameters of its first use."""
    if record["request"] != request:
        raise PaymentProviderFailed(
            f"sandbox: idempotency key {key} was already used with different parameters "
            "(flush the sandbox after resetting the database)"
        )
    return record


def _parse(raw: bytes | str | None, what: str, reference: str) -> Record:
    if raw is None:
        raise PaymentProviderFailed(f"sandbox: no such {what} {reference}")
    record: Record = json.loads(raw)
    return record


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _invoice_key(reference: str) -> str:
    return f"{PREFIX}:invoice:{reference}"


def _setup_key(reference: str) -> str:
    return f"{PREFIX}:setup:{reference}"


def _center_setups_key(center_id: int | str) -> str:
    return f"{PREFIX}:center-setups:{center_id}"


def _card_key(reference: str) -> str:
    return f"{PREFIX}:card:{reference}"


def _charge_key(key: str) -> str:
    return f"{PREFIX}:charge:{key}:pay"


def _charges_key(reference: str) -> str:
    return f"{PREFIX}:charges:{reference}"


def _payment_key(reference: str) -> str:
    return f"{PREFIX}:payment:{reference}"


def _refunded_key(payment_reference: str) -> str:
    """The sum of the payment's refunds that did not fail."""
    return f"{PREFIX}:refunded:{payment_reference}"


def _refund_key(reference: str) -> str:
    return f"{PREFIX}:refund:{reference}"


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
        "payment_reference": None,
        "customer": request.customer_reference,
        "charge_automatically": request.charge_automatically,
        "request": _fingerprint(request),
    }


def _new_setup(reference: str, request: CardSetupRequest, sequence: int) -> Record:
    return {
        "reference": reference,
        "client_secret": f"{reference}_secret_sandbox",
        "status": "requires_payment_method",
        "customer": request.customer_reference,
        "payment_method": None,
        "metadata": dict(request.metadata),
        "sequence": sequence,
        "request": asdict(request),
    }


def _new_card(customer: str | None, declining: bool) -> Record:
    """Stripe's test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined."""
    return {
        "reference": f"pm_sandbox_{secrets.token_hex(12)}",
        "customer": customer,
        "brand": "visa",
        "last4": "0002" if declining else "4242",
        "exp_month": 12,
        "exp_year": clock.now().year + 3,
        "declining": declining,
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
        payment_reference=record.get("payment_reference"),
    )


def _to_card_setup(record: Record) -> CardSetup:
    return CardSetup(
        reference=record["reference"],
        client_secret=record["client_secret"],
        status=record["status"],
        customer_reference=record["customer"],
        payment_method=record["payment_method"],
        metadata=dict(record["metadata"]),
    )


def _to_card(record: Record) -> Card:
    return Card(
        reference=record["reference"],
        customer_reference=record["customer"],
        brand=record["brand"],
        last4=record["last4"],
        exp_month=record["exp_month"],
        exp_year=record["exp_year"],
    )


def _event_body(event_type: str, data_object: Record, event_id: str | None) -> bytes:
    event = {
        "id": event_id or f"evt_sandbox_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "created": int(clock.now().timestamp()),
        "data": {"object": data_object},
        "livemode": False,
        "api_version": API_VERSION,
    }
    return json.dumps(event, separators=(",", ":")).encode()


def _stripe_setup_intent(setup: CardSetup) -> Record:
    return {
        "id": setup.reference,
        "object": "setup_intent",
        "status": setup.status,
        "customer": setup.customer_reference,
        "payment_method": setup.payment_method,
        "client_secret": setup.client_secret,
        "metadata": dict(setup.metadata),
    }


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
