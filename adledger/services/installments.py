"""Campaigns paid by card (DESIGN §8): INSTALLMENTS and PREPAY.

At launch the whole schedule is made (domain/schedules.py): the first invoice OPEN and
due to be charged at once, the others SCHEDULED on their dates. The campaign's reserve
holds its whole price from the start, owed by its receivable account; each payment
settles part of the receivable, so spend can never run ahead of what was paid plus what
the schedule still owes, and `taken` (the API's `funded`) is what was paid. The campaign
waits in PENDING_FUNDS until the first invoice is paid.

Lock order: the campaign, then its invoices, then ledger accounts, the invoice counter
last. A provider event about an installment locks the campaign before the invoice too
(webhooks.py), so nothing here waits for a row held by someone waiting for us.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.billing import InvoiceKind, InvoiceStatus
from adledger.domain.campaigns import (
    LIVE,
    Action,
    CampaignStatus,
    DeliveryType,
    PaymentPlan,
    launched,
)
from adledger.domain.conservation import paid_and_kept
from adledger.domain.errors import InvalidState
from adledger.domain.events import EventType
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.domain.money import Currency
from adledger.domain.schedules import (
    CardPlan,
    Installment,
    card_schedule,
    flight_days,
    interval_for,
    settle_plan,
)
from adledger.domain.stops import on_credit_line
from adledger.services.config import BillingConfig
from adledger.services.delivery import set_status
from adledger.services.event_data_money import Credit
from adledger.services.funding import credit_issued, flight_of, wallet_accounts
from adledger.services.invoices import NewInvoice, open_invoice
from adledger.services.invoices import event as invoice_event
from adledger.services.ledger import post_entry
from adledger.store import billing as billing_repo
from adledger.store import business_centers as centers
from adledger.store import campaigns as repo
from adledger.store import ledger as ledger_repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import Campaign, Invoice

CARD_PLANS = frozenset({PaymentPlan.INSTALLMENTS, PaymentPlan.PREPAY})
KIND_PAID = TransactionKind.INSTALLMENT_PAYMENT


def paid_by_card(campaign: Campaign) -> bool:
    return campaign.payment_plan in CARD_PLANS


BILLED_PLANS = frozenset({*CARD_PLANS, PaymentPlan.CREDIT_LINE})


async def require_credit_line(session: AsyncSession, center_id: int) -> None:
    wallet = (await wallet_repo.wallets_of_centers(session, [center_id]))[0]
    if wallet.credit_limit <= 0:
        raise InvalidState(
            "a campaign paid on the credit line needs a credit line on its business center: "
            "the billing department grants one (setCreditLine)"
        )


def to_billing(campaign: Campaign, action: Action) -> bool:
    """A GUARANTEED campaign paid by card or on the credit line, canceled by its customer,
    stops and waits for the billing department (a cancellation request)."""
    billed_later = paid_by_card(campaign) or on_credit_line(campaign.payment_plan)
    guaranteed = campaign.delivery_type == DeliveryType.GUARANTEED
    return action is Action.CANCEL and guaranteed and billed_later


@dataclass(frozen=True, slots=True)
class PlanMade:
    first_invoice_id: int
    count: int


async def launch_by_card(
    session: AsyncSession, campaign: Campaign, config: BillingConfig, now: datetime
) -> PlanMade:
    """The campaign (locked by the caller) gets its schedule; nothing is charged here: the
    first invoice is charged after the commit (card_charges.collect)."""
    await _require_card(session, campaign.business_center_id)
    schedule = card_schedule(
        CardPlan(campaign.payment_plan),
        campaign.budget,
        config.installment_threshold_in(Currency(campaign.currency)).minor,
        (campaign.starts_at, campaign.ends_at),
        now,
    )
    await _book_receivable(session, campaign)
    invoices = [
        await _plan_invoice(session, campaign, part, schedule.count, now)
        for part in schedule.installments
    ]
    campaign.launched_at = now
    set_status(session, campaign, CampaignStatus.PENDING_FUNDS, now)
    await repo.save(session, campaign)
    return PlanMade(invoices[0].id, schedule.count)


async def _require_card(session: AsyncSession, center_id: int) -> None:
    center = await centers.business_center(session, center_id)
    if center is None or center.card_reference is None:
        raise InvalidState(
            "a campaign paid by card needs a card on file for its business center: save one "
            "with createCardSetup first"
        )


async def _book_receivable(session: AsyncSession, campaign: Campaign) -> None:
    """The whole price into the reserve, owed by the receivable until it is paid."""
    accounts = (await repo.campaign_accounts(session, [campaign.id]))[campaign.id]
    move = Move(
        accounts[AccountKind.RECEIVABLE],
        accounts[AccountKind.RESERVE],
        campaign.budget,
        TransactionKind.CAMPAIGN_LAUNCH,
    )
    await post_entry(
        session,
        operation="campaign_launch",
        moves=[move],
        description=f"Launch of campaign {campaign.name}, paid by card",
        actor_user_id=None,
        idempotency_key=f"campaign:{campaign.id}:launch",
        campaign_id=campaign.id,
    )


async def _plan_invoice(
    session: AsyncSession, campaign: Campaign, part: Installment, count: int, now: datetime
) -> Invoice:
    """Numbered now; the first is OPEN and due to be charged, the others SCHEDULED."""
    first = part.number == 1
    what = "prepayment" if count == 1 else f"installment {part.number} of {count}"
    return await open_invoice(
        session,
        NewInvoice(
            campaign.business_center_id,
            campaign.wallet_id,
            InvoiceKind.INSTALLMENT,
            campaign.currency,
            [(f"Campaign {campaign.name}: {what}", part.amount)],
            part.issue_on,
            0,  # charged to the card on its date
            campaign_id=campaign.id,
            status=InvoiceStatus.OPEN if first else InvoiceStatus.SCHEDULED,
            numbered_on=now,
            installment=(part.number, count),
            next_charge_at=now if first else None,
        ),
    )


async def installment_paid(
    session: AsyncSession, campaign: Campaign, invoice: Invoice, now: datetime
) -> None:
    """The payment settles the receivable; the first one lets the campaign deliver, and
    one made after the charges had failed resumes it. (Campaign and invoice locked.)"""
    amount = invoice.subtotal - invoice.discount
    accounts = (await repo.campaign_accounts(session, [campaign.id]))[campaign.id]
    clearing = await ledger_repo.platform_account_id(
        session, AccountKind.PAYMENTS_CLEARING, campaign.currency
    )
    await post_entry(
        session,
        operation="installment_payment",
        moves=[Move(clearing, accounts[AccountKind.RECEIVABLE], amount, KIND_PAID)],
        description=f"Invoice {invoice.number} paid",
        actor_user_id=None,
        idempotency_key=f"invoice:{invoice.id}:paid",
        invoice_id=invoice.id,
        campaign_id=campaign.id,
    )
    campaign.taken += amount
    await billing_repo.update_invoice(
        session, invoice.id, next_charge_at=None, last_charge_error=None
    )
    _deliver_again(session, campaign, now)
    await repo.save(session, campaign)


def _deliver_again(session: AsyncSession, campaign: Campaign, now: datetime) -> None:
    status = CampaignStatus(campaign.status)
    flight = flight_of(campaign)
    if status is CampaignStatus.PENDING_FUNDS and flight.ends_at > now:
        set_status(session, campaign, launched(True, flight, now), now)
    elif status is CampaignStatus.PAUSED and campaign.pause_reason is not None:
        if flight.ends_at > now:
            set_status(session, campaign, flight.running_status(now), now)
            campaign.paused_at = None
        campaign.pause_reason = None


def under_delivered(campaign: Campaign, now: datetime) -> bool:
    """IF_AVAILABLE delivery still below what was paid, while the flight lasts."""
    return (
        campaign.delivery_type == DeliveryType.IF_AVAILABLE
        and campaign.spent < campaign.taken
        and now < campaign.ends_at
        and CampaignStatus(campaign.status) in LIVE
    )


async def postpone(session: AsyncSession, campaign: Campaign, invoice: Invoice) -> None:
    """This installment and every later scheduled one move one interval later."""
    interval = interval_for(flight_days(campaign.starts_at, campaign.ends_at))
    later = await billing_repo.invoices_of_campaign(
        session, campaign.id, (InvoiceStatus.SCHEDULED.value,)
    )
    for scheduled in later:
        if (scheduled.installment_number or 0) >= (invoice.installment_number or 0):
            moved = scheduled.issue_on + interval
            await billing_repo.update_invoice(session, scheduled.id, issue_on=moved, due_at=moved)


async def charge_failed(
    session: AsyncSession,
    campaign: Campaign,
    invoice: Invoice,
    error: str,
    retry_days: Sequence[int],
    now: datetime,
) -> bool:
    """A declined charge: tried again after the next retry delay; after the last one
    the campaign is paused with the reason. True when it paused the campaign."""
    attempts = invoice.charge_attempts + 1
    retry = now + timedelta(days=retry_days[attempts - 1]) if attempts <= len(retry_days) else None
    await billing_repo.update_invoice(
        session,
        invoice.id,
        charge_attempts=attempts,
        next_charge_at=retry,
        last_charge_error=error,
    )
    await invoice_event(session, invoice, EventType.INVOICE_PAYMENT_FAILED, now)
    if retry is not None:
        return False
    return _pause_for(session, campaign, invoice, error, now)


def _pause_for(
    session: AsyncSession, campaign: Campaign, invoice: Invoice, error: str, now: datetime
) -> bool:
    reason = (
        f"invoice {invoice.number} (installment {invoice.installment_number} of "
        f"{invoice.installment_count}) could not be charged: {error}"
    )
    campaign.pause_reason = reason
    if CampaignStatus(campaign.status) in (CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE):
        set_status(session, campaign, CampaignStatus.PAUSED, now)
        campaign.paused_at = now
        return True
    return False


async def end_plan(
    session: AsyncSession,
    campaign: Campaign,
    credit_kind: TransactionKind,
    what: str,
    now: datetime,
) -> int:
    """Bill exactly what was delivered (domain settle_plan), once the campaign can spend no
    more (canceled, rejected, expired or settled; locked by the caller): the unpaid
    invoices keep what the spend beyond the payments needs, in order, and are charged
    now; the rest are voided; the unspent part of what was paid returns to the wallet's
    cash as credit. Answers the credit."""
    unpaid = await billing_repo.invoices_of_campaign(session, campaign.id, OWED)
    settled = settle_plan(_kept(campaign), campaign.spent, [_due(i) for i in unpaid])
    reduced = 0
    for invoice, due in zip(unpaid, settled.amounts_due, strict=True):
        reduced += _due(invoice) - due
        await _bill(session, invoice, due, now)
    accounts = (await repo.campaign_accounts(session, [campaign.id]))[campaign.id]
    reserve = accounts[AccountKind.RESERVE]
    moves = []
    if reduced:
        moves.append(Move(reserve, accounts[AccountKind.RECEIVABLE], reduced, ADJUSTED))
    if settled.credit:
        cash = await _cash_of(session, campaign)
        moves.append(Move(reserve, cash, settled.credit, credit_kind))
    if moves:
        await post_entry(
            session,
            operation="campaign_plan_end",
            moves=moves,
            description=f"Campaign {campaign.name} {what}: invoices adjusted to its delivery",
            actor_user_id=None,
            idempotency_key=f"campaign:{campaign.id}:plan-end",
            campaign_id=campaign.id,
        )
    campaign.credited += settled.credit
    what_came_back = f"Campaign {campaign.name} {what}: unspent part of what was paid returned"
    await credit_issued(
        session, campaign, Credit(credit_kind.value, settled.credit, what_came_back), now
    )
    return settled.credit


def _kept(campaign: Campaign) -> int:
    """What was paid and not given back already (a makegood from the reserve)."""
    return paid_and_kept(
        campaign.taken, campaign.credited, campaign.forfeited, campaign.made_good_reserve
    )


OWED = (InvoiceStatus.SCHEDULED.value, InvoiceStatus.OPEN.value)
ADJUSTED = TransactionKind.PLAN_ADJUSTMENT


def _due(invoice: Invoice) -> int:
    return invoice.subtotal - invoice.discount


async def _bill(session: AsyncSession, invoice: Invoice, due: int, now: datetime) -> None:
    """The invoice asks `due` from now on: voided at zero, else discounted (when less)
    and charged now. A provider invoice for the old amount is voided there (the job)."""
    changed = due != _due(invoice)
    values: dict[str, object] = {}
    if changed and invoice.payment_reference is not None:
        values |= {"superseded_reference": invoice.payment_reference, "payment_reference": None}
    if due == 0:
        # Voided, and `discount` shows by how much: the whole of it.
        values |= {
            "status": InvoiceStatus.VOID.value,
            "discount": invoice.subtotal,
            "next_charge_at": None,
        }
    else:
        values |= {
            "status": InvoiceStatus.OPEN.value,
            "discount": invoice.subtotal - due,
            "next_charge_at": now,
            "due_at": now,
        }
    await billing_repo.update_invoice(session, invoice.id, **values)
    for type_ in _bill_events(invoice, due, changed):
        await invoice_event(session, invoice, type_, now)


def _bill_events(invoice: Invoice, due: int, changed: bool) -> list[EventType]:
    if due == 0:
        return [EventType.INVOICE_VOIDED]
    opened = [EventType.INVOICE_OPENED] if invoice.status == InvoiceStatus.SCHEDULED else []
    return opened + ([EventType.INVOICE_DISCOUNTED] if changed else [])


async def _cash_of(session: AsyncSession, campaign: Campaign) -> int:
    return (await wallet_accounts(session, campaign.wallet_id)).cash
