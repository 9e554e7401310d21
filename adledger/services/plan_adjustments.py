"""What the billing department does by hand on card plans (DESIGN §8): a GUARANTEED
campaign canceled by its customer opens a cancellation request, which staff resolve
with a credit of the unspent rest; staff void or discount an installment invoice with a
reason. Every change is in the audit trail (invoice_adjustments, the request itself).

Lock order: the campaign, then its invoice, then ledger accounts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.billing import InvoiceKind, InvoiceStatus
from adledger.domain.campaigns import Action, CampaignStatus, transition
from adledger.domain.conservation import paid_and_kept
from adledger.domain.errors import (
    CurrencyMismatch,
    InvalidInput,
    InvalidState,
    InvariantBroken,
    not_found,
)
from adledger.domain.events import EventType
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.domain.money import Currency, format_money, parse_positive_amount
from adledger.domain.text import clean_text
from adledger.domain.wallets import MoneyIn
from adledger.services import access, invoices, refunds
from adledger.services.actor import Actor
from adledger.services.delivery import set_status
from adledger.services.event_data_money import Credit
from adledger.services.funding import credit_issued, flight_of, wallet_accounts
from adledger.services.idempotency import run_idempotent
from adledger.services.ledger import post_entry
from adledger.store import audit
from adledger.store import billing as billing_repo
from adledger.store import campaigns as repo
from adledger.store import ledger as ledger_repo
from adledger.store import plan_adjustments as adjustments
from adledger.store.models import Campaign, CancellationRequest, Invoice

INVOICE_FIELD = ("input", "invoiceId")
REQUEST_FIELD = ("input", "requestId")


class Resolution(enum.StrEnum):
    CREDIT = "CREDIT"
    REFUND = "REFUND"


@dataclass(frozen=True, slots=True)
class InvoiceOutcome:
    invoice_id: int
    campaign_id: int


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    request_id: int
    campaign_id: int
    wallet_id: int
    credited: int
    refund_request_id: int | None = None
    """With a refund: its provider refunds are made after the commit."""


async def open_cancellation_request(
    session: AsyncSession, campaign: Campaign, actor_user_id: int | None, now: datetime
) -> None:
    """The campaign (locked) stops delivering now; its money waits for staff."""
    was = CampaignStatus(campaign.status)
    set_status(session, campaign, transition(was, Action.CANCEL, flight_of(campaign), now), now)
    await adjustments.insert_request(
        session,
        CancellationRequest(
            campaign_id=campaign.id,
            business_center_id=campaign.business_center_id,
            requested_by_user_id=actor_user_id,
            requested_at=now,
            status="OPEN",
        ),
    )
    await _audit(session, campaign, actor_user_id, "CANCELLATION_REQUESTED", now)
    await repo.save(session, campaign)


async def resolve_cancellation(
    session: AsyncSession,
    actor: Actor,
    request_id: int,
    note: str,
    now: datetime,
    key: str | None = None,
    resolution: Resolution = Resolution.CREDIT,
) -> RequestOutcome:
    """Staff: the unspent rest of what was paid returns to the account's cash as credit,
    or (REFUND) goes on from there back to the card payments of the campaign. Invoices
    still owed stay as they are (staff void or discount them by hand)."""
    access.require_staff(actor)
    found = await adjustments.request(session, request_id)
    if found is None:
        raise not_found("cancellation request", REQUEST_FIELD)
    text = clean_text(note, ("input", "note"), "note")

    async def run() -> RequestOutcome:
        campaign = await _lock_campaign(session, found.campaign_id)
        request = await adjustments.lock_request(session, request_id)
        if request is None or request.status != "OPEN":
            raise InvalidState("the cancellation request is already resolved")
        kept = paid_and_kept(
            campaign.taken, campaign.credited, campaign.forfeited, campaign.made_good_reserve
        )
        credit = max(kept - campaign.spent, 0)
        if credit:
            await _credit(session, campaign, credit, actor.user_id, now)
        refund_id = None
        if resolution is Resolution.REFUND and credit:
            refund_id = await refunds.refund_campaign_money(
                session, campaign, credit, actor.user_id, now
            )
        request.status, request.resolution, request.amount = "RESOLVED", resolution.value, credit
        request.note, request.resolved_by_user_id, request.resolved_at = text, actor.user_id, now
        campaign.settled_at = now
        await repo.save(session, campaign)
        action = f"CANCELLATION_RESOLVED_{resolution.value}"
        await _audit(session, campaign, actor.user_id, action, now, credit, text)
        return RequestOutcome(request.id, campaign.id, campaign.wallet_id, credit, refund_id)

    request_body = {"request": request_id, "note": text, "resolution": resolution.value}
    outcome = await run_idempotent(
        session, actor, key, "resolveCancellationRequest", request_body, RequestOutcome, run
    )
    await refunds.declare_send(session, outcome.refund_request_id)
    return outcome


async def _credit(
    session: AsyncSession, campaign: Campaign, amount: int, actor: int, now: datetime
) -> None:
    accounts = (await repo.campaign_accounts(session, [campaign.id]))[campaign.id]
    cash = (await wallet_accounts(session, campaign.wallet_id)).cash
    kind = TransactionKind.CANCELLATION_CREDIT
    description = f"Campaign {campaign.name} canceled: unspent rest credited by billing"
    await post_entry(
        session,
        operation="cancellation_credit",
        moves=[Move(accounts[AccountKind.RESERVE], cash, amount, kind)],
        description=description,
        actor_user_id=actor,
        idempotency_key=f"campaign:{campaign.id}:cancellation-credit",
        campaign_id=campaign.id,
    )
    campaign.credited += amount
    await credit_issued(session, campaign, Credit(kind.value, amount, description), now)


async def void_invoice(
    session: AsyncSession,
    actor: Actor,
    invoice_id: int,
    reason: str,
    now: datetime,
    key: str | None = None,
) -> InvoiceOutcome:
    """Staff: an installment still owed asks nothing any more."""
    access.require_staff(actor)
    text = clean_text(reason, ("input", "reason"))
    found = await _installment(session, invoice_id)

    async def run() -> InvoiceOutcome:
        campaign, invoice = await _lock_owed(session, found)
        due = invoice.subtotal - invoice.discount
        await _owe_less(session, campaign, invoice, due, actor.user_id, "voided")
        await billing_repo.update_invoice(
            session,
            invoice.id,
            status=InvoiceStatus.VOID.value,
            next_charge_at=None,
            **_superseded(invoice),
        )
        await invoices.event(session, invoice, EventType.INVOICE_VOIDED, now)
        await adjustments.audit(session, invoice.id, actor.user_id, "VOID", due, text)
        detail = f"invoice {invoice.number}: {text}"
        await _audit(session, campaign, actor.user_id, "INVOICE_VOIDED", now, due, detail)
        return InvoiceOutcome(invoice.id, campaign.id)

    request = {"invoice": invoice_id, "reason": text}
    return await run_idempotent(session, actor, key, "voidInvoice", request, InvoiceOutcome, run)


async def discount_invoice(
    session: AsyncSession,
    actor: Actor,
    invoice_id: int,
    amount: MoneyIn,
    reason: str,
    now: datetime,
    key: str | None = None,
) -> InvoiceOutcome:
    """Staff: an installment still owed asks `amount` less (never nothing: void it)."""
    access.require_staff(actor)
    text = clean_text(reason, ("input", "reason"))
    found = await _installment(session, invoice_id)
    if amount.currency.value != found.currency:
        raise CurrencyMismatch(
            message=f"the invoice is in {found.currency}",
            expected=found.currency,
            field=("input", "amount", "currencyCode"),
        )
    cut = parse_positive_amount(
        amount.amount, Currency(found.currency), ("input", "amount", "amount")
    )

    async def run() -> InvoiceOutcome:
        campaign, invoice = await _lock_owed(session, found)
        due = invoice.subtotal - invoice.discount
        if cut.minor >= due:
            raise InvalidInput(
                "a discount leaves something to pay; void the invoice instead", ("input", "amount")
            )
        await _owe_less(session, campaign, invoice, cut.minor, actor.user_id, "discounted")
        charge_again = invoice.status == InvoiceStatus.OPEN and invoice.next_charge_at is not None
        await billing_repo.update_invoice(
            session,
            invoice.id,
            discount=invoice.discount + cut.minor,
            **({"next_charge_at": now} if charge_again else {}),
            **_superseded(invoice),
        )
        await invoices.event(session, invoice, EventType.INVOICE_DISCOUNTED, now)
        await adjustments.audit(session, invoice.id, actor.user_id, "DISCOUNT", cut.minor, text)
        detail = f"invoice {invoice.number}: {text}"
        await _audit(session, campaign, actor.user_id, "INVOICE_DISCOUNTED", now, cut.minor, detail)
        return InvoiceOutcome(invoice.id, campaign.id)

    request = {"invoice": invoice_id, "amount": cut.minor, "reason": text}
    return await run_idempotent(
        session, actor, key, "discountInvoice", request, InvoiceOutcome, run
    )


async def _installment(session: AsyncSession, invoice_id: int) -> Invoice:
    found = await billing_repo.invoices_by_ids(session, [invoice_id])
    if not found:
        raise not_found("invoice", INVOICE_FIELD)
    if found[0].kind != InvoiceKind.INSTALLMENT or found[0].campaign_id is None:
        raise InvalidState("only the installment invoices of a card plan are adjusted by hand")
    return found[0]


async def _lock_owed(session: AsyncSession, found: Invoice) -> tuple[Campaign, Invoice]:
    if found.campaign_id is None:
        raise InvariantBroken("found.campaign_id is not None (_installment checked it)")
    campaign = await _lock_campaign(session, found.campaign_id)
    invoice = await billing_repo.lock_invoice(session, found.id)
    if invoice is None:
        raise not_found("invoice", INVOICE_FIELD)
    if invoice.status not in (InvoiceStatus.SCHEDULED, InvoiceStatus.OPEN):
        raise InvalidState(f"the invoice is {invoice.status}: only one still owed is adjusted")
    return campaign, invoice


async def _lock_campaign(session: AsyncSession, campaign_id: int) -> Campaign:
    campaign = await repo.lock_campaign(session, campaign_id)
    if campaign is None:
        raise not_found("campaign")
    return campaign


async def _owe_less(
    session: AsyncSession,
    campaign: Campaign,
    invoice: Invoice,
    amount: int,
    actor: int,
    what: str,
) -> None:
    """The campaign holds (and owes) `amount` less; spend already made stays covered."""
    accounts = (await repo.campaign_accounts(session, [campaign.id]))[campaign.id]
    reserve_id = accounts[AccountKind.RESERVE]
    reserve = (await ledger_repo.lock_accounts(session, [reserve_id]))[reserve_id].balance
    if reserve < amount:
        raise InvalidState(
            f"the campaign has delivered more than the invoices would still ask for "
            f"(it holds {format_money(reserve, campaign.currency)} of the "
            f"{format_money(amount, campaign.currency)} to cut)"
        )
    kind = TransactionKind.PLAN_ADJUSTMENT
    await post_entry(
        session,
        operation="invoice_adjustment",
        moves=[Move(accounts[AccountKind.RESERVE], accounts[AccountKind.RECEIVABLE], amount, kind)],
        description=f"Invoice {invoice.number} {what} by billing",
        actor_user_id=actor,
        invoice_id=invoice.id,
        campaign_id=campaign.id,
    )


async def _audit(
    session: AsyncSession,
    campaign: Campaign,
    actor: int | None,
    action: str,
    at: datetime,
    amount: int | None = None,
    detail: str | None = None,
) -> None:
    await audit.record(session, audit.of_campaign(campaign, actor, action, at, amount, detail))


def _superseded(invoice: Invoice) -> dict[str, object]:
    """An invoice already at the provider is voided there (the job) and issued again."""
    if invoice.payment_reference is None:
        return {}
    return {"superseded_reference": invoice.payment_reference, "payment_reference": None}
