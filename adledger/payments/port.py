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


@dataclass(frozen=True, slots=True)
class CustomerRequest:
    key: str
    """Our stable name for the customer, e.g. "business-center:7"."""
    name: str
    email: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


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
