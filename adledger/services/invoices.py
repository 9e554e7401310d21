"""Invoices: numbered without gaps per year, issued at the provider after our commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.billing import InvoiceKind, InvoiceStatus, format_invoice_number
from adledger.domain.errors import PaymentProviderFailed, not_found
from adledger.domain.events import EventType
from adledger.payments.port import CustomerRequest, InvoiceRequest, PaymentProvider, ProviderInvoice
from adledger.services import events
from adledger.services.transact import Transact
from adledger.store import billing as repo
from adledger.store import business_centers as centers
from adledger.store.models import Invoice


@dataclass(frozen=True, slots=True)
class NewInvoice:
    center_id: int
    wallet_id: int | None
    kind: InvoiceKind
    currency: str
    lines: Sequence[tuple[str, int]]
    issue_on: datetime
    days_until_due: int
    campaign_id: int | None = None
    status: InvoiceStatus = InvoiceStatus.OPEN
    """SCHEDULED for an installment planned for a later date."""
    numbered_on: datetime | None = None
    """The year it is numbered in, when not the year it is issued in (a plan's invoices
    are numbered when the plan is made, so numbers stay gapless and in order)."""
    installment: tuple[int, int] | None = None
    """(number, count) in a campaign's installment plan."""
    next_charge_at: datetime | None = None
    """When the saved card is to be charged (invoices paid by card)."""


def provider_key(invoice_id: int, top_up_id: int | None = None) -> str:
    """Our name for an invoice at the provider, the root of every idempotency key sent
    for it: `topup:<id>` for top-ups, `invoice:<id>` for everything else."""
    return f"topup:{top_up_id}" if top_up_id is not None else f"invoice:{invoice_id}"


async def open_invoice(session: AsyncSession, new: NewInvoice) -> Invoice:
    invoice = await numbered_invoice(session, new)
    inserted = await repo.insert_invoice(session, invoice, new.lines)
    if new.status is InvoiceStatus.OPEN:
        await event(session, inserted, EventType.INVOICE_OPENED, new.issue_on)
    return inserted


async def numbered_invoice(session: AsyncSession, new: NewInvoice) -> Invoice:
    """The invoice row, not yet written, with the next number of its year: the invoice
    counter is taken here (last in the lock order; held until the commit)."""
    year = (new.numbered_on or new.issue_on).year
    sequence = await repo.next_invoice_sequence(session, year)
    number, count = new.installment or (None, None)
    return Invoice(
        number=format_invoice_number(year, sequence),
        business_center_id=new.center_id,
        wallet_id=new.wallet_id,
        kind=new.kind.value,
        status=new.status.value,
        currency=new.currency,
        subtotal=sum(amount for _, amount in new.lines),
        discount=0,
        issue_on=new.issue_on,
        due_at=new.issue_on + timedelta(days=new.days_until_due),
        campaign_id=new.campaign_id,
        installment_number=number,
        installment_count=count,
        next_charge_at=new.next_charge_at,
    )


async def mark_paid(session: AsyncSession, invoice: Invoice, paid_at: datetime) -> None:
    await repo.mark_invoice_paid(session, invoice.id, paid_at)
    await event(session, invoice, EventType.INVOICE_PAID, paid_at)


async def mark_void(session: AsyncSession, invoice: Invoice, now: datetime | None = None) -> None:
    await repo.update_invoice(session, invoice.id, status=InvoiceStatus.VOID.value)
    await event(session, invoice, EventType.INVOICE_VOIDED, now or clock.now())


async def event(session: AsyncSession, invoice: Invoice, type_: EventType, now: datetime) -> None:
    """A partner event about the invoice, showing it as this transaction leaves it."""
    await events.record_subject(
        session, invoice.business_center_id, type_, "Invoice", invoice.id, now
    )


async def flag(session: AsyncSession, invoice: Invoice, reason: str) -> None:
    """Park a payment we will not act on automatically; finance reviews flagged invoices."""
    await repo.update_invoice(session, invoice.id, flag_reason=reason)


@dataclass(frozen=True, slots=True)
class IssueSnapshot:
    invoice_id: int
    reference: str | None
    provider_key: str
    center_id: int
    center_name: str
    customer_reference: str | None
    currency: str
    amount: int
    description: str
    days_until_due: int
    charge_automatically: bool


async def issue_pending(
    transact: Transact, provider: PaymentProvider, created_before: datetime, limit: int = 100
) -> tuple[int, int]:
    """Issue open invoices the provider never confirmed (a timeout, a crash between our
    commit and the provider call); the keys make this safe next to a live request.
    Returns (issued, failed at the provider)."""
    pending = await transact(lambda s: repo.unissued_invoices(s, created_before, limit))
    issued = 0
    for invoice_id, top_up_id in pending:
        try:
            await issue_invoice(transact, provider, invoice_id, provider_key(invoice_id, top_up_id))
        except PaymentProviderFailed:
            continue
        issued += 1
    return issued, len(pending) - issued


async def issue_invoice(
    transact: Transact, provider: PaymentProvider, invoice_id: int, provider_key: str
) -> str:
    """Create the invoice at the provider, after the commit that made it ours; answers its
    reference there. Every provider call is keyed by our ids, so running this again (a
    retry, a second worker) reaches the same provider objects. Raises
    PaymentProviderFailed."""
    snapshot = await transact(lambda s: issue_snapshot(s, invoice_id, provider_key))
    if snapshot.reference is not None:
        return snapshot.reference
    issued = await issue_at_provider(provider, snapshot)
    return await transact(lambda s: record_issue(s, snapshot, issued))


@dataclass(frozen=True, slots=True)
class Issued:
    customer: str
    invoice: ProviderInvoice


async def issue_at_provider(provider: PaymentProvider, snapshot: IssueSnapshot) -> Issued:
    """The provider calls (the customer on first use, the invoice), outside any
    transaction."""
    customer = snapshot.customer_reference or await provider.create_customer(
        _customer_request(snapshot.center_id, snapshot.center_name)
    )
    return Issued(customer, await provider.create_invoice(_request(snapshot, customer)))


async def provider_customer(transact: Transact, provider: PaymentProvider, center_id: int) -> str:
    """The center's customer at the provider, made (keyed by the center) on first use."""
    known = await transact(lambda s: _customer_of(s, center_id))
    if known[1] is not None:
        return known[1]
    customer = await provider.create_customer(_customer_request(center_id, known[0]))
    await transact(lambda s: centers.set_payment_customer(s, center_id, customer))
    return customer


async def _customer_of(session: AsyncSession, center_id: int) -> tuple[str, str | None]:
    center = await centers.business_center(session, center_id)
    if center is None:
        raise not_found("business center")
    return center.name, center.payment_customer_reference


def _customer_request(center_id: int, name: str) -> CustomerRequest:
    return CustomerRequest(
        key=f"business-center:{center_id}",
        name=name,
        metadata={"adledger_business_center_id": str(center_id)},
    )


def _request(snapshot: IssueSnapshot, customer: str) -> InvoiceRequest:
    return InvoiceRequest(
        key=snapshot.provider_key,
        customer_reference=customer,
        currency=snapshot.currency,
        amount_minor=snapshot.amount,
        description=snapshot.description,
        metadata={
            "adledger_invoice_id": str(snapshot.invoice_id),
            "adledger_business_center_id": str(snapshot.center_id),
        },
        days_until_due=snapshot.days_until_due,
        charge_automatically=snapshot.charge_automatically,
    )


async def issue_snapshot(
    session: AsyncSession, invoice_id: int, provider_key: str
) -> IssueSnapshot:
    found = await repo.issue_facts(session, invoice_id)
    if found is None:
        raise not_found("invoice")
    due_days = (found.due_at - found.issue_on).days if found.due_at else 0
    line = found.first_line
    return IssueSnapshot(
        invoice_id=found.id,
        reference=found.payment_reference,
        provider_key=provider_key,
        center_id=found.center_id,
        center_name=found.center_name,
        customer_reference=found.payment_customer_reference,
        currency=found.currency,
        amount=found.amount,
        description=f"{found.number}: {line}" if line is not None else found.number,
        days_until_due=due_days,
        # Installments and automatic recharges are charged to the center's saved card
        # (card_charges.py).
        charge_automatically=found.kind in (InvoiceKind.INSTALLMENT, InvoiceKind.AUTO_RECHARGE),
    )


async def record_issue(session: AsyncSession, snapshot: IssueSnapshot, issued: Issued) -> str:
    """The provider's reference kept (and the center's customer, when it is new); answers
    the reference."""
    if issued.customer != snapshot.customer_reference:
        await centers.set_payment_customer(session, snapshot.center_id, issued.customer)
    reference = issued.invoice.reference
    status = await repo.record_issue(
        session, snapshot.invoice_id, reference, issued.invoice.hosted_url
    )
    if status == InvoiceStatus.VOID:
        # Voided here while the provider was creating it: void it there too (the job).
        await repo.update_invoice(session, snapshot.invoice_id, void_pending=True)
    return reference
