"""Campaign shortfall invoices: paid, they fund their campaign; superseded (the campaign
was funded otherwise, canceled or expired), they are voided here and at the provider.

A superseded invoice is voided in a transaction of its own that locks the invoice first,
as the webhook does (the one lock order), never from inside the transaction that made it
superseded. Paid in the meantime, its money still arrives: it is credited to the wallet.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.billing import InvoiceStatus
from adledger.domain.errors import InvariantBroken, PaymentProviderFailed
from adledger.domain.events import EventType
from adledger.domain.ledger import AccountKind, TransactionKind
from adledger.domain.money import Currency, Money
from adledger.payments.port import PaymentProvider
from adledger.services import invoices
from adledger.services.funding import fund_waiting, lock_waiting
from adledger.services.ledger import PlatformCredit, credit_from_platform
from adledger.services.transact import Transact
from adledger.store import billing as billing_repo
from adledger.store import campaigns as repo
from adledger.store.models import Invoice

log = logging.getLogger(__name__)


async def shortfall_paid(session: AsyncSession, invoice: Invoice, now: datetime) -> None:
    """The customer paid what their wallet lacked: the money enters the wallet, then funds
    the invoice's own campaign first and any other waiting one after it."""
    if invoice.wallet_id is None:
        raise InvariantBroken("invoice.wallet_id is not None")
    also = [invoice.campaign_id] if invoice.campaign_id is not None else []
    locked = await lock_waiting(session, invoice.wallet_id, also=also)
    await credit_from_platform(
        session,
        PlatformCredit(
            invoice.wallet_id,
            AccountKind.CASH,
            AccountKind.PAYMENTS_CLEARING,
            Money(invoice.subtotal - invoice.discount, Currency(invoice.currency)),
            TransactionKind.TOP_UP,
            f"Shortfall invoice {invoice.number} paid",
            idempotency_key=f"invoice:{invoice.id}:paid",
            invoice_id=invoice.id,
            campaign_id=invoice.campaign_id,
        ),
    )
    await fund_waiting(session, invoice.wallet_id, locked, now, first=invoice.campaign_id)


async def void_superseded(
    transact: Transact, provider: PaymentProvider, limit: int = 100
) -> tuple[int, int]:
    """Void shortfall invoices nobody needs to pay any more, and retry provider voids that
    failed. Returns (voided, failed at the provider)."""
    ids = await transact(lambda s: repo.superseded_shortfall_ids(s, limit))
    voided = failed = 0
    for invoice_id in ids:
        try:
            if await void_one(transact, provider, invoice_id):
                voided += 1
        except PaymentProviderFailed:
            log.warning("invoice %s not voided at the provider yet; the job retries", invoice_id)
            failed += 1
    return voided, failed


async def void_one(transact: Transact, provider: PaymentProvider, invoice_id: int) -> bool:
    """Raises PaymentProviderFailed (the invoice stays marked for a retry)."""
    voided, reference = await transact(lambda s: _void_locally(s, invoice_id))
    if reference is None:
        return voided
    try:
        await provider.void_invoice(reference, f"invoice:{invoice_id}:void")
    except PaymentProviderFailed:
        fetched = await provider.retrieve_invoice(reference)
        if fetched.status in ("open", "draft"):
            raise
        # Already void, or paid: the paid webhook flags it for finance.
    await transact(lambda s: billing_repo.update_invoice(s, invoice_id, void_pending=False))
    return True


async def _void_locally(session: AsyncSession, invoice_id: int) -> tuple[bool, str | None]:
    """Whether this voided it, and the provider reference still to void, if any."""
    invoice = await billing_repo.lock_invoice(session, invoice_id)
    if invoice is None:
        return False, None
    if invoice.status == InvoiceStatus.OPEN:
        if not await repo.shortfall_superseded(session, invoice):
            return False, None
        await billing_repo.update_invoice(
            session,
            invoice.id,
            status=InvoiceStatus.VOID.value,
            void_pending=invoice.payment_reference is not None,
        )
        await invoices.event(session, invoice, EventType.INVOICE_VOIDED, clock.now())
        return True, invoice.payment_reference
    return False, invoice.payment_reference if invoice.void_pending else None
