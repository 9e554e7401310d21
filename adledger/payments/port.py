"""What adledger needs from a payment provider. Stripe implements it in production; the
sandbox implements it for local runs and the demo.

Every call that creates something carries a key derived from our own ids, so a retry
after a timeout reaches the same provider object instead of making a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InvoiceRequest:
    key: str
    """Our stable name for what is invoiced, e.g. "topup:12"; provider idempotency keys
    are derived from it ("topup:12:item", "topup:12:invoice", ...)."""
    customer_reference: str
    currency: str
    """ISO 4217 code, upper case as everywhere in adledger."""
    amount_minor: int
    description: str
    metadata: dict[str, str] = field(default_factory=dict)
    days_until_due: int = 30
    charge_automatically: bool = False
    """Paid with the customer's saved card (`charge_invoice`) instead of sent to be paid
    by hand: no due date at the provider, days_until_due is ignored."""


@dataclass(frozen=True, slots=True)
class ProviderInvoice:
    reference: str
    status: str
    """The provider's status, normalised to: draft, open, paid, void, uncollectible."""
    currency: str
    amount_due: int
    amount_paid: int
    hosted_url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    payment_reference: str | None = None
    """Once paid, the payment refunds go back to (a Stripe PaymentIntent id)."""


@dataclass(frozen=True, slots=True)
class RefundRequest:
    key: str
    """Our stable name for this refund, e.g. "refund:12:lot:3"."""
    payment_reference: str
    amount_minor: int
    currency: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    reference: str
    status: str
    """Normalised to: pending, succeeded, failed, canceled."""
    amount: int
    currency: str
    payment_reference: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CustomerRequest:
    key: str
    """Our stable name for the customer, e.g. "business-center:7"."""
    name: str
    email: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CardSetupRequest:
    key: str
    """Our stable name for this setup, e.g. "card-setup:3"."""
    customer_reference: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CardSetup:
    """A SetupIntent: what Stripe.js needs to save a card for later off-session charges."""

    reference: str
    client_secret: str
    status: str
    """Stripe's SetupIntent status: requires_payment_method, ..., succeeded, canceled."""
    customer_reference: str | None
    payment_method: str | None
    """The saved card's reference once the setup succeeded."""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Card:
    reference: str
    customer_reference: str | None
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentProvider(Protocol):
    """Failures surface as adledger.domain.errors.PaymentProviderFailed."""

    async def create_customer(self, request: CustomerRequest) -> str:
        """The provider's customer id."""
        ...

    async def create_invoice(self, request: InvoiceRequest) -> ProviderInvoice:
        """Invoice item, invoice and finalisation: an open invoice the customer can pay."""
        ...

    async def retrieve_invoice(self, reference: str) -> ProviderInvoice: ...

    async def void_invoice(self, reference: str, key: str) -> ProviderInvoice: ...

    async def create_card_setup(self, request: CardSetupRequest) -> CardSetup:
        """A SetupIntent for off-session card payments by this customer."""
        ...

    async def retrieve_card_setup(self, reference: str) -> CardSetup: ...

    async def retrieve_card(self, reference: str) -> Card: ...

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        """Give back part or all of a payment, to the method that paid it. A refund
        cannot be canceled once made; its outcome may come later (`retrieve_refund`, the
        refund events)."""
        ...

    async def retrieve_refund(self, reference: str) -> ProviderRefund: ...

    async def charge_invoice(self, reference: str, card: str, key: str) -> ProviderInvoice:
        """Pay an open invoice with a saved card, off session. A decline raises
        PaymentDeclined (nothing was taken; the invoice stays open), an outage
        PaymentProviderFailed; an invoice already paid answers as it is."""
        ...
