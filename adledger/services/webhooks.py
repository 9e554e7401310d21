"""Provider events (DESIGN §5): each stored once, by id, in the transaction of its effect.

Events may arrive twice, late and out of order, so an event is only a hint: the invoice
is fetched again from the provider and its current state is what we act on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.billing import InvoiceKind, InvoiceStatus, TopUpStatus
from adledger.domain.errors import InvariantBroken, PaymentProviderFailed
from adledger.domain.events import EventType
from adledger.domain.money import format_money
from adledger.payments.port import (
    Card,
    CardSetup,
    PaymentProvider,
    ProviderInvoice,
    ProviderRefund,
)
from adledger.services import (
    auto_recharge,
    cards,
    credit_line_statements,
    installments,
    invoices,
    refunds,
    shortfalls,
    subscriptions,
    top_ups,
)
from adledger.services.transact import Transact
from adledger.store import billing as repo
from adledger.store import campaigns
from adledger.store.models import Invoice, WebhookEvent

log = logging.getLogger(__name__)

INVOICE_EVENTS = frozenset(
    {"invoice.paid", "invoice.payment_failed", "invoice.voided", "invoice.marked_uncollectible"}
)
SETUP_SUCCEEDED = "setup_intent.succeeded"
REFUND_EVENTS = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
HANDLED = INVOICE_EVENTS | REFUND_EVENTS | {SETUP_SUCCEEDED}
# Invoices whose payment brought money in: refunds may go back to it (payment lots).
LOT_KINDS = frozenset(
    {
        InvoiceKind.TOP_UP,
        InvoiceKind.CAMPAIGN_SHORTFALL,
        InvoiceKind.INSTALLMENT,
        InvoiceKind.SUBSCRIPTION,
        InvoiceKind.AUTO_RECHARGE,
    }
)
MAX_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class EventResult:
    status: str
    """PROCESSED, IGNORED, DUPLICATE or FAILED (kept for the retry job)."""
    wallet_id: int | None = None
    """The wallet whose balance or pending top-ups the event changed."""


async def process_event(
    transact: Transact, provider: PaymentProvider, event: dict[str, Any], now: datetime
) -> EventResult:
    event_id, event_type = str(event["id"]), str(event["type"])
    if event_type not in HANDLED:
        return await transact(lambda s: _store_only(s, event, "IGNORED", now))
    reference = str(event["data"]["object"]["id"])
    try:
        if event_type == SETUP_SUCCEEDED:
            setup, card = await _fetch_setup(provider, reference)
            return await transact(lambda s: _apply_setup(s, event, setup, card, now))
        if event_type in REFUND_EVENTS:
            fetched_refund = await provider.retrieve_refund(reference)
            return await transact(lambda s: _apply_refund(s, event, fetched_refund, now))
        fetched = await provider.retrieve_invoice(reference)
    except PaymentProviderFailed as err:
        error = str(err)
        await transact(lambda s: repo.record_failed_event(s, event_id, event_type, event, error))
        return EventResult("FAILED")
    return await transact(lambda s: _apply(s, event, fetched, now))


async def _apply_refund(
    session: AsyncSession, event: dict[str, Any], fetched: ProviderRefund, now: datetime
) -> EventResult:
    row_id = await repo.claim_event(session, str(event["id"]), str(event["type"]), event, now)
    if row_id is None:
        return EventResult("DUPLICATE")
    refund_id = await refunds.refund_id_of(session, fetched)
    changed = refund_id is not None and await refunds.settle(session, refund_id, fetched, now)
    status = "IGNORED" if refund_id is None else "PROCESSED"
    await _finish(session, row_id, status, now)
    wallet_id = await refunds.wallet_of_refund(session, refund_id) if changed else None
    return EventResult(status, wallet_id)


async def _fetch_setup(provider: PaymentProvider, reference: str) -> tuple[CardSetup, Card | None]:
    setup = await provider.retrieve_card_setup(reference)
    card = await provider.retrieve_card(setup.payment_method) if setup.payment_method else None
    return setup, card


async def _apply_setup(
    session: AsyncSession, event: dict[str, Any], setup: CardSetup, card: Card | None, now: datetime
) -> EventResult:
    row_id = await repo.claim_event(session, str(event["id"]), str(event["type"]), event, now)
    if row_id is None:
        return EventResult("DUPLICATE")
    center_id = await cards.record_card(session, setup, card, now) if card else None
    status = "IGNORED" if center_id is None else "PROCESSED"
    await _finish(session, row_id, status, now)
    return EventResult(status)


async def retry_failed(
    transact: Transact, provider: PaymentProvider, now: datetime, limit: int = 100
) -> dict[str, int]:
    """The job behind the webhook route: events whose processing failed, once more."""
    pending = await transact(lambda s: repo.failed_events(s, MAX_ATTEMPTS, limit))
    outcomes: dict[str, int] = {}
    for row in pending:
        outcome = await _retry_one(transact, provider, row, now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


async def _retry_one(
    transact: Transact, provider: PaymentProvider, row: WebhookEvent, now: datetime
) -> str:
    """One bad event must not stop the others; its failure counts as an attempt, so it is
    given up after MAX_ATTEMPTS instead of being retried every minute for ever."""
    try:
        return (await process_event(transact, provider, row.payload, now)).status
    except Exception as err:
        log.exception("retrying webhook event %s failed", row.event_id)
        detail = f"{type(err).__name__}: {err}"
        await transact(
            lambda s: repo.record_failed_event(s, row.event_id, row.type, row.payload, detail)
        )
        return "FAILED"


async def _store_only(
    session: AsyncSession, event: dict[str, Any], status: str, now: datetime
) -> EventResult:
    row_id = await repo.claim_event(session, str(event["id"]), str(event["type"]), event, now)
    if row_id is None:
        return EventResult("DUPLICATE")
    await _finish(session, row_id, status, now)
    return EventResult(status)


async def _apply(
    session: AsyncSession, event: dict[str, Any], fetched: ProviderInvoice, now: datetime
) -> EventResult:
    row_id = await repo.claim_event(session, str(event["id"]), str(event["type"]), event, now)
    if row_id is None:
        return EventResult("DUPLICATE")
    invoice = await _our_invoice(session, fetched)
    if invoice is None:
        await _finish(session, row_id, "IGNORED", now)
        return EventResult("IGNORED")
    await reconcile(session, invoice, fetched, str(event["type"]), now)
    return EventResult("PROCESSED", invoice.wallet_id)


async def _finish(session: AsyncSession, row_id: int, status: str, now: datetime) -> None:
    """The event was claimed as PROCESSED: any other outcome is written over it."""
    if status != "PROCESSED":
        await repo.finish_event(session, row_id, status, now)


async def _our_invoice(session: AsyncSession, fetched: ProviderInvoice) -> Invoice | None:
    """The invoice, locked; an installment's campaign is locked before it (the order
    every writer of a campaign's invoices takes)."""
    locked = await repo.lock_invoice_by_reference_unless_installment(session, fetched.reference)
    if locked is not None:
        return locked
    found = await repo.invoice_by_reference(session, fetched.reference)
    invoice_id = found.id if found is not None else _invoice_id_of(fetched)
    if invoice_id is None:
        return None
    if found is None:
        found = next(iter(await repo.invoices_by_ids(session, [invoice_id])), None)
    if found is not None and found.kind == InvoiceKind.INSTALLMENT and found.campaign_id:
        await campaigns.lock_campaign(session, found.campaign_id)
    return await repo.lock_invoice(session, invoice_id)


def _invoice_id_of(fetched: ProviderInvoice) -> int | None:
    """Created at the provider but its reference never reached us (a timeout after
    success): our id is in its metadata."""
    raw_id = fetched.metadata.get("adledger_invoice_id", "")
    # ASCII only: int() reads Arabic-Indic digits too, and an id past BIGINT would fail the query.
    known = raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18
    return int(raw_id) if known else None


async def reconcile(
    session: AsyncSession,
    invoice: Invoice,
    fetched: ProviderInvoice,
    event_type: str,
    now: datetime,
) -> None:
    if fetched.status == "paid":
        await _settle_paid(session, invoice, fetched, now)
    elif fetched.status == "void":
        await _settle_void(session, invoice, now)
    elif _payment_failed(fetched, event_type) and invoice.status == InvoiceStatus.OPEN:
        await invoices.event(session, invoice, EventType.INVOICE_PAYMENT_FAILED, now)
        if invoice.kind == InvoiceKind.TOP_UP:
            await top_ups.settle_unpaid_top_up(session, invoice, TopUpStatus.FAILED, now)


def _payment_failed(fetched: ProviderInvoice, event_type: str) -> bool:
    failed_events = ("invoice.payment_failed", "invoice.marked_uncollectible")
    return event_type in failed_events or fetched.status == "uncollectible"


async def _settle_paid(
    session: AsyncSession, invoice: Invoice, fetched: ProviderInvoice, now: datetime
) -> None:
    if invoice.status == InvoiceStatus.PAID:
        return
    problem = _payment_problem(invoice, fetched)
    if problem is not None:
        log.warning("invoice %s flagged: %s", invoice.number, problem)
        await invoices.flag(session, invoice, problem)
        return
    await invoices.mark_paid(session, invoice, now)
    if invoice.kind in LOT_KINDS:
        await refunds.record_lot(session, invoice, fetched.payment_reference, now)
    if invoice.kind == InvoiceKind.TOP_UP:
        await top_ups.credit_paid_top_up(session, invoice, now)
    elif invoice.kind == InvoiceKind.SUBSCRIPTION:
        await subscriptions.activate_paid(session, invoice, now)
    elif invoice.kind == InvoiceKind.CAMPAIGN_SHORTFALL:
        await shortfalls.shortfall_paid(session, invoice, now)
    elif invoice.kind == InvoiceKind.CREDIT_LINE_CYCLE:
        await credit_line_statements.credit_line_paid(session, invoice, now)
    elif invoice.kind == InvoiceKind.AUTO_RECHARGE:
        await auto_recharge.recharge_paid(session, invoice, now)
    elif invoice.kind == InvoiceKind.INSTALLMENT and invoice.campaign_id is not None:
        campaign = await campaigns.lock_campaign(session, invoice.campaign_id)
        if campaign is None:
            raise InvariantBroken("campaign is not None (invoices of a campaign are never deleted)")
        await installments.installment_paid(session, campaign, invoice, now)


def _payment_problem(invoice: Invoice, fetched: ProviderInvoice) -> str | None:
    """Money we cannot match to what we asked for is never credited automatically."""
    due = invoice.subtotal - invoice.discount
    if invoice.status == InvoiceStatus.VOID:
        return "paid at the provider after we voided it"
    if fetched.currency.upper() != invoice.currency:
        return f"paid in {fetched.currency.upper()}, invoiced in {invoice.currency}"
    if fetched.amount_paid != due:
        paid = format_money(fetched.amount_paid, invoice.currency)
        return f"paid {paid}, invoiced {format_money(due, invoice.currency)}"
    return None


async def _settle_void(session: AsyncSession, invoice: Invoice, now: datetime) -> None:
    if invoice.status != InvoiceStatus.OPEN:
        return
    await invoices.mark_void(session, invoice, now)
    if invoice.kind == InvoiceKind.TOP_UP:
        await top_ups.settle_unpaid_top_up(session, invoice, TopUpStatus.CANCELED, now)
    elif invoice.kind == InvoiceKind.SUBSCRIPTION:
        await subscriptions.release_unpaid(session, invoice)
    elif invoice.kind == InvoiceKind.AUTO_RECHARGE:
        await auto_recharge.recharge_voided(session, invoice)
