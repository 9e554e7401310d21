"""Refunds in the sandbox: what `SandboxProvider` decides about them, without Redis.

A refund gives back part or all of a paid invoice's payment (`pi_sandbox_...`). It starts
pending, as a real card refund does for days, until `SandboxProvider.settle_refund` (the
`adledger payments settle-refund` CLI) makes it succeeded or failed. What is left to
refund of a payment is its amount less its refunds that did not fail: the provider keeps
that sum in Redis and checks it with `check_refundable` in the transaction that stores
the refund, and gives a failed refund's amount back (`freed`) in the one that settles it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from adledger.domain.errors import PaymentProviderFailed
from adledger.payments.port import ProviderRefund, RefundRequest

RefundOutcome = Literal["succeeded", "failed"]
OUTCOMES: frozenset[str] = frozenset({"succeeded", "failed"})
REFUND_UPDATED = "refund.updated"
REFUND_FAILED = "refund.failed"

Record = dict[str, Any]


def payment_of(invoice: Record) -> Record:
    """A paid invoice's payment, as refunds see it."""
    return {
        "reference": invoice["payment_reference"],
        "invoice": invoice["reference"],
        "amount": invoice["amount_paid"],
        "currency": invoice["currency"],
    }


def new_refund(reference: str, request: RefundRequest) -> Record:
    return {
        "reference": reference,
        "status": "pending",
        "amount": request.amount_minor,
        "currency": request.currency.upper(),
        "payment_reference": request.payment_reference,
        "metadata": dict(request.metadata),
        "request": asdict(request),
    }


def check_refundable(payment: Record, refunded: int, request: RefundRequest) -> None:
    """Stripe's refusals: another currency, nothing to give, more than is left to refund."""
    reference, amount, currency = payment["reference"], request.amount_minor, payment["currency"]
    if request.currency.upper() != currency:
        raise PaymentProviderFailed(
            f"sandbox: payment {reference} is in {currency}, not {request.currency.upper()}"
        )
    if amount <= 0:
        raise PaymentProviderFailed(f"sandbox: a refund must be of a positive amount, not {amount}")
    left = payment["amount"] - refunded
    if amount > left:
        raise PaymentProviderFailed(
            f"sandbox: refund above what is left of payment {reference}: "
            f"{amount} {currency} asked, {left} of {payment['amount']} left"
        )


def settled(refund: Record, outcome: str) -> Record:
    """Pending becomes `outcome`; settling the same way again answers it unchanged."""
    if outcome not in OUTCOMES:
        raise PaymentProviderFailed(f"sandbox: unknown refund outcome {outcome!r}")
    if refund["status"] not in ("pending", outcome):
        raise PaymentProviderFailed(
            f"sandbox: cannot settle refund {refund['reference']} as {outcome}: "
            f"it is {refund['status']}"
        )
    return {**refund, "status": outcome}


def freed(before: Record, after: Record) -> int:
    """What settling gives back to the payment: the amount of a refund that just failed."""
    failed_now = after["status"] == "failed" and before["status"] != "failed"
    return int(after["amount"]) if failed_now else 0


def to_refund(record: Record) -> ProviderRefund:
    return ProviderRefund(
        reference=record["reference"],
        status=record["status"],
        amount=record["amount"],
        currency=record["currency"],
        payment_reference=record["payment_reference"],
        metadata=dict(record["metadata"]),
    )


def refund_event_type(refund: ProviderRefund) -> str:
    """Stripe sends refund.failed when a refund fails, refund.updated for other changes."""
    return REFUND_FAILED if refund.status == "failed" else REFUND_UPDATED


def stripe_refund(refund: ProviderRefund) -> Record:
    """The event's data object: a Stripe Refund."""
    return {
        "id": refund.reference,
        "object": "refund",
        "status": refund.status,
        "amount": refund.amount,
        "currency": refund.currency.lower(),
        "payment_intent": refund.payment_reference,
        "metadata": dict(refund.metadata),
    }
