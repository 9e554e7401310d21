"""Charging installments to the saved card, and the `issue-invoices` job (DESIGN §8, §10).

Each charge is claimed first: in one transaction (campaign, then invoice, locked) the
invoice's next attempt is pushed a lease ahead, so a second worker running the same
instant finds nothing due and makes no provider call. Then, after that commit: the
invoice is issued at the provider if it is not yet, charged with a key derived from the
invoice and the attempt (a retry after a lost answer reaches the same charge), and the
outcome is recorded in a third transaction, through the same code a provider event
takes. A worker that dies after its claim leaves the invoice to be charged again once
the lease ends, with the same key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.billing import InvoiceKind, InvoiceStatus
from adledger.domain.campaigns import CampaignStatus
from adledger.domain.errors import PaymentDeclined, PaymentProviderFailed
from adledger.domain.events import EventType
from adledger.payments.port import PaymentProvider, ProviderInvoice
from adledger.services import auto_recharge, installments, invoices, webhooks
from adledger.services.config import BillingConfig
from adledger.services.invoices import issue_invoice
from adledger.services.transact import Transact
from adledger.store import billing as billing_repo
from adledger.store import business_centers as centers
from adledger.store import campaigns as repo
from adledger.store.models import Campaign, Invoice

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
ENDED_BEFORE_PAYING = frozenset({CampaignStatus.CANCELED, CampaignStatus.REJECTED})


@dataclass(frozen=True, slots=True)
class Claim:
    invoice_id: int
    provider_key: str
    card: str
    attempt: int


def provider_key_of(invoice: Invoice) -> str:
    """Our name for the invoice at the provider; a reduced invoice is issued again, under
    a name of its own."""
    base = f"invoice:{invoice.id}"
    return f"{base}:due-{invoice.subtotal - invoice.discount}" if invoice.discount else base


async def collect(
    transact: Transact,
    provider: PaymentProvider,
    invoice_id: int,
    config: BillingConfig,
    now: datetime,
) -> str:
    """Charge one due invoice; answers what happened: paid, declined, paused or
    suspended (declined for the last time: an installment's campaign paused, an automatic
    recharge's rule suspended), failed (the provider did not answer) or not due."""
    claim = await transact(lambda s: _claim(s, invoice_id, now))
    if claim is None:
        return "not due"
    try:
        reference = await issue_invoice(transact, provider, invoice_id, claim.provider_key)
        # The card in the key too: a charge whose answer was lost is replayed with the
        # same card, while a card saved meanwhile is a new charge, not a key reused with
        # other parameters (which Stripe refuses for a day).
        key = f"{claim.provider_key}:charge-{claim.attempt}:{claim.card}"
        fetched = await provider.charge_invoice(reference, claim.card, key)
    except PaymentDeclined as err:
        error = err.message
        return await transact(lambda s: _declined(s, invoice_id, error, config, now))
    except PaymentProviderFailed as err:
        log.warning("invoice %s not charged yet (%s); retried after the lease", invoice_id, err)
        return "failed"
    await transact(lambda s: _paid(s, invoice_id, fetched, now))
    return "paid"


async def _locked(session: AsyncSession, invoice_id: int) -> tuple[Campaign, Invoice] | None:
    """The invoice's campaign, then the invoice, locked in that order."""
    found = await billing_repo.invoices_by_ids(session, [invoice_id])
    if not found or found[0].campaign_id is None:
        return None
    campaign = await repo.lock_campaign(session, found[0].campaign_id)
    invoice = await billing_repo.lock_invoice(session, invoice_id)
    if campaign is None or invoice is None:
        return None
    return campaign, invoice


async def _locked_invoice(session: AsyncSession, invoice_id: int) -> Invoice | None:
    """An automatic recharge's invoice (its writers' subject, locked first), or else an
    installment's, locked after its campaign."""
    found = await billing_repo.invoices_by_ids(session, [invoice_id])
    if found and found[0].kind == InvoiceKind.AUTO_RECHARGE:
        return await billing_repo.lock_invoice(session, invoice_id)
    locked = await _locked(session, invoice_id)
    return None if locked is None else locked[1]


async def _claim(session: AsyncSession, invoice_id: int, now: datetime) -> Claim | None:
    invoice = await _locked_invoice(session, invoice_id)
    if invoice is None:
        return None
    due = invoice.next_charge_at is not None and invoice.next_charge_at <= now
    if invoice.status != InvoiceStatus.OPEN or not due:
        return None
    center = await centers.business_center(session, invoice.business_center_id)
    if center is None or center.card_reference is None:
        return None
    await billing_repo.update_invoice(session, invoice.id, next_charge_at=now + LEASE)
    return Claim(
        invoice.id, provider_key_of(invoice), center.card_reference, invoice.charge_attempts
    )


async def _declined(
    session: AsyncSession, invoice_id: int, error: str, config: BillingConfig, now: datetime
) -> str:
    """declined (to be tried again), paused (an installment's campaign) or suspended (an
    automatic recharge's rule), the last time."""
    found = await billing_repo.invoices_by_ids(session, [invoice_id])
    if found and found[0].kind == InvoiceKind.AUTO_RECHARGE:
        return await _recharge_declined(session, invoice_id, error, config, now)
    locked = await _locked(session, invoice_id)
    if locked is None or locked[1].status != InvoiceStatus.OPEN:
        return "declined"
    campaign, invoice = locked
    paused = await installments.charge_failed(
        session, campaign, invoice, error, config.charge_retry_days, now
    )
    await repo.save(session, campaign)
    return "paused" if paused else "declined"


async def _recharge_declined(
    session: AsyncSession, invoice_id: int, error: str, config: BillingConfig, now: datetime
) -> str:
    invoice = await billing_repo.lock_invoice(session, invoice_id)
    if invoice is None or invoice.status != InvoiceStatus.OPEN:
        return "declined"
    retry_days = config.charge_retry_days
    suspended = await auto_recharge.charge_declined(session, invoice, error, retry_days, now)
    return "suspended" if suspended else "declined"


async def _paid(
    session: AsyncSession, invoice_id: int, fetched: ProviderInvoice, now: datetime
) -> None:
    invoice = await _locked_invoice(session, invoice_id)
    if invoice is not None:
        await webhooks.reconcile(session, invoice, fetched, "invoice.paid", now)


async def open_due(session: AsyncSession, invoice_id: int, now: datetime) -> str | None:
    """A scheduled installment whose date has come is issued: OPEN, to be charged now.
    One of a campaign canceled or rejected meanwhile is left to the plan's end. Under
    IF_AVAILABLE, while delivery is below what was paid, it moves one interval later
    instead, with the installments after it (the Adomni page: the current invoice date
    keeps moving until the planned amount is spent)."""
    locked = await _locked(session, invoice_id)
    if locked is None:
        return None
    campaign, invoice = locked
    if invoice.status != InvoiceStatus.SCHEDULED or invoice.issue_on > now:
        return None
    if CampaignStatus(campaign.status) in ENDED_BEFORE_PAYING or campaign.pause_reason:
        return None
    if installments.under_delivered(campaign, now):
        await installments.postpone(session, campaign, invoice)
        return "postponed"
    await billing_repo.update_invoice(
        session, invoice.id, status=InvoiceStatus.OPEN.value, due_at=now, next_charge_at=now
    )
    await invoices.event(session, invoice, EventType.INVOICE_OPENED, now)
    return "issued"


async def _open_one(transact: Transact, invoice_id: int, now: datetime) -> str | None:
    return await transact(lambda s: open_due(s, invoice_id, now))


async def issue_due_invoices(
    transact: Transact,
    provider: PaymentProvider,
    config: BillingConfig,
    now: datetime,
    limit: int = 100,
) -> dict[str, int]:
    """The job: open the installments due at `now`, then charge every invoice due."""
    outcomes: dict[str, int] = {}
    for invoice_id in await transact(lambda s: billing_repo.due_to_open(s, now, limit)):
        opened = await _open_one(transact, invoice_id, now)
        if opened is not None:
            outcomes[opened] = outcomes.get(opened, 0) + 1
    for invoice_id in await transact(lambda s: billing_repo.due_to_charge(s, now, limit)):
        outcome = await collect(transact, provider, invoice_id, config, now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


async def void_superseded(
    transact: Transact, provider: PaymentProvider, limit: int = 100
) -> dict[str, int]:
    """Void at the provider each invoice issued for an amount since reduced here. One
    paid there meanwhile (a charge that raced the reduction) is flagged for finance."""
    outcomes: dict[str, int] = {}
    for invoice_id, reference in await transact(
        lambda s: billing_repo.superseded_references(s, limit)
    ):
        outcome = await _void_at_provider(transact, provider, invoice_id, reference)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


async def _void_at_provider(
    transact: Transact, provider: PaymentProvider, invoice_id: int, reference: str
) -> str:
    try:
        fetched = await provider.retrieve_invoice(reference)
        if fetched.status in ("open", "draft"):
            fetched = await provider.void_invoice(reference, f"{reference}:superseded")
    except PaymentProviderFailed as err:
        log.warning("superseded invoice %s not voided yet (%s)", reference, err)
        return "failed"
    problem = f"{reference} was paid at the provider after its amount was reduced here"
    flag = problem if fetched.status == "paid" else None
    await transact(lambda s: _superseded_done(s, invoice_id, reference, flag))
    return "flagged" if flag else "voided"


async def _superseded_done(
    session: AsyncSession, invoice_id: int, reference: str, flag: str | None
) -> None:
    values: dict[str, object] = {"superseded_reference": None}
    if flag is not None:
        values["flag_reason"] = flag
        log.warning("invoice %s flagged: %s", invoice_id, flag)
    await billing_repo.update_invoice(session, invoice_id, **values)
