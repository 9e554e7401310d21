"""Credit balance top-ups (DESIGN §5): invoiced first, credited only once paid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.billing import (
    InvoiceKind,
    SubscriptionStatus,
    TopUpAsk,
    TopUpStatus,
    top_up_amount,
)
from adledger.domain.errors import CurrencyMismatch, SubscriptionRequired
from adledger.domain.events import EventType
from adledger.domain.ledger import AccountKind, TransactionKind
from adledger.domain.money import Currency, Money, parse_positive_amount
from adledger.domain.wallets import MoneyIn
from adledger.services import effect_kinds, events, outbox
from adledger.services.actor import Actor
from adledger.services.config import BillingConfig
from adledger.services.funding import fund_waiting, lock_waiting
from adledger.services.idempotency import run_idempotent
from adledger.services.invoices import NewInvoice, mark_void, numbered_invoice, provider_key
from adledger.services.ledger import PlatformCredit, credit_from_platform
from adledger.services.wallets import wallet_for
from adledger.store import billing as repo
from adledger.store import ledger as ledger_repo
from adledger.store.models import Invoice, TopUp, Wallet
from adledger.store.wallets import MovableWallet

TOP_UP_LINE = "Credit balance top-up"


@dataclass(frozen=True, slots=True)
class TopUpRequest:
    wallet_id: int
    amount: MoneyIn | None = None
    target_balance: MoneyIn | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class TopUpOutcome:
    top_up_id: int
    invoice_id: int
    wallet_id: int


async def request_top_up(
    session: AsyncSession,
    actor: Actor,
    request: TopUpRequest,
    config: BillingConfig,
    now: datetime,
) -> TopUpOutcome:
    wallet = await wallet_for(session, actor, request.wallet_id, ("input", "walletId"))
    ask = TopUpAsk(
        amount=_money(wallet, request.amount, ("input", "amount")),
        target=_money(wallet, request.target_balance, ("input", "targetBalance")),
    )
    fingerprint = {"wallet": wallet.id, "amount": _minor(ask.amount), "target": _minor(ask.target)}

    async def run() -> TopUpOutcome:
        return await _create(session, actor, wallet, ask, config, now)

    outcome = await run_idempotent(
        session, actor, request.idempotency_key, "topUpWallet", fingerprint, TopUpOutcome, run
    )
    # Issued at the provider after the commit. Declared on a replay too: a keyed retry
    # issues what the first request left undone (a crash, an outage) and answers with it.
    await outbox.declare(session, _issue_effect(outcome))
    return outcome


def _issue_effect(outcome: TopUpOutcome) -> outbox.Effect:
    """The top-up's invoice issued at the provider, named there after the top-up."""
    key = provider_key(outcome.invoice_id, outcome.top_up_id)
    return effect_kinds.issue_invoice(outcome.invoice_id, key)


async def _create(
    session: AsyncSession,
    actor: Actor,
    wallet: Wallet | MovableWallet,
    ask: TopUpAsk,
    config: BillingConfig,
    now: datetime,
) -> TopUpOutcome:
    currency = Currency(wallet.currency)
    # The wallet's cash account is the lock that serialises top-ups of one wallet: two
    # target top-ups at once would otherwise both invoice the same gap.
    locked = await ledger_repo.lock_wallet_accounts(session, [wallet.id], AccountKind.CASH)
    cash = locked[wallet.id][1].balance
    subscription, pending = await repo.top_up_checks(
        session, wallet.business_center_id, wallet.id, TopUpStatus.AWAITING_PAYMENT
    )
    if subscription is None or not SubscriptionStatus(subscription).allows_top_ups:
        raise SubscriptionRequired()
    amount = top_up_amount(
        ask, Money(cash, currency), Money(pending, currency), config.minimum_top_up(currency)
    )
    # The invoice counter last (the lock order), and as little as possible after it: it
    # is every top-up's queue until the commit.
    lines = [(TOP_UP_LINE, amount.minor)]
    invoice = await numbered_invoice(
        session,
        NewInvoice(
            wallet.business_center_id,
            wallet.id,
            InvoiceKind.TOP_UP,
            wallet.currency,
            lines,
            now,
            config.days_until_due,
        ),
    )
    top_up = TopUp(
        status=TopUpStatus.AWAITING_PAYMENT.value,
        target_balance=_minor(ask.target),
        actor_user_id=actor.user_id,
    )
    invoice_id, top_up_id = await repo.insert_top_up_invoice(
        session, invoice, TOP_UP_LINE, top_up, clock.now()
    )
    await events.record_subject(
        session, wallet.business_center_id, EventType.INVOICE_OPENED, "Invoice", invoice_id, now
    )
    return TopUpOutcome(top_up_id, invoice_id, wallet.id)


async def cancel_unissued(session: AsyncSession, outcome: TopUpOutcome, now: datetime) -> None:
    """Undo a top-up whose invoice the provider never confirmed, so nothing half-made stays.
    The invoice keeps its number as VOID: numbering stays gapless. Its issue is taken back
    with it: the effect is done without running."""
    invoice = await repo.lock_invoice(session, outcome.invoice_id)
    if invoice is not None and invoice.payment_reference is None:
        await mark_void(session, invoice, now)
        await repo.update_top_up(session, outcome.top_up_id, status=TopUpStatus.CANCELED.value)
    key = effect_kinds.issue_invoice_key(outcome.invoice_id)
    await outbox.drop(session, key, now, "top-up taken back")


async def credit_paid_top_up(session: AsyncSession, invoice: Invoice, paid_at: datetime) -> None:
    """Credit the wallet once: the top-up row is locked and marked paid in one statement
    that skips a paid or canceled one, and the ledger entry's key is unique per top-up,
    so a replayed event cannot credit twice."""
    top_up = await repo.mark_top_up_paid(session, invoice.id, paid_at)
    if top_up is None:
        return
    waiting = await lock_waiting(session, top_up.wallet_id)
    await credit_from_platform(
        session,
        PlatformCredit(
            top_up.wallet_id,
            AccountKind.CASH,
            AccountKind.PAYMENTS_CLEARING,
            Money(top_up.amount, Currency(top_up.currency)),
            TransactionKind.TOP_UP,
            f"Top-up paid ({invoice.number})",
            top_up.actor_user_id,
            idempotency_key=f"topup:{top_up.id}:credit",
            invoice_id=invoice.id,
        ),
    )
    center_id = invoice.business_center_id
    await events.record_subject(
        session, center_id, EventType.TOP_UP_PAID, "TopUp", top_up.id, paid_at
    )
    await fund_waiting(session, top_up.wallet_id, waiting, paid_at)


async def settle_unpaid_top_up(
    session: AsyncSession, invoice: Invoice, status: TopUpStatus, now: datetime
) -> None:
    """A failed payment or a voided invoice: no credit. A FAILED top-up whose invoice is
    paid later is still credited (the customer's money arrived); a CANCELED one cannot be."""
    top_up = await repo.lock_top_up_of_invoice(session, invoice.id)
    if top_up is None or top_up.status in (TopUpStatus.PAID, TopUpStatus.CANCELED):
        return
    was = top_up.status
    await repo.update_top_up(session, top_up.id, status=status.value)
    if status is TopUpStatus.FAILED and was != TopUpStatus.FAILED:
        await _event(session, invoice, top_up, EventType.TOP_UP_FAILED, now)


async def _event(
    session: AsyncSession, invoice: Invoice, top_up: TopUp, type_: EventType, now: datetime
) -> None:
    center_id = invoice.business_center_id
    await events.record_subject(session, center_id, type_, "TopUp", top_up.id, now)


def _money(
    wallet: Wallet | MovableWallet, given: MoneyIn | None, field: tuple[str, ...]
) -> Money | None:
    if given is None:
        return None
    if given.currency.value != wallet.currency:
        raise CurrencyMismatch(expected=wallet.currency, field=(*field, "currencyCode"))
    return parse_positive_amount(given.amount, given.currency, (*field, "amount"))


def _minor(money: Money | None) -> int | None:
    return None if money is None else money.minor
