"""Automatic recharge (issue 27, docs/billing.md "Automatic recharge"): when a wallet's
available balance falls below its rule's threshold, an AUTO_RECHARGE invoice is charged to
the center's saved card off-session; the wallet is credited only once it is paid.

The decision is taken by the transaction whose money moves crossed the threshold, at its
end (`balance_guard.settle` calls `on_balances_changed`), under the rule's row lock: the
transactions that move one wallet's money queue there, so a burst of spend starts one
recharge. A rule starts a recharge only while `armed` (it is disarmed by the recharge it
starts, re-armed once the balance is back at or above the threshold: one per crossing)
and with none pending or in flight (`pending_since`, `in_flight_invoice_id`).

The deciding transaction numbers no invoice: its guard rows come after the invoice counter
in the lock order, and it may hold the counter already (a plan renewal paid from the
balance, a launch opening a shortfall invoice). It marks the rule pending and declares the
effect `auto_recharge.open`, keyed by the wallet and the crossing. The effect, after the
commit, opens the invoice (the counter), then locks the rule to record it in flight, and
declares its charge: the outbox effect that charges installments (`invoice.collect`,
services/card_charges.py), keyed by the invoice, run at once, retried by issue-invoices on
the installments' delays; the last failure voids the invoice and suspends the rule
(`charge_declined`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.billing import PROVIDER_MINIMUM_MINOR, InvoiceKind, InvoiceStatus
from adledger.domain.currency import format_money
from adledger.domain.errors import InvariantBroken
from adledger.domain.events import EventType
from adledger.domain.ledger import AccountKind, TransactionKind
from adledger.domain.money import Currency, Money
from adledger.domain.months import month_of
from adledger.domain.recharge import MAX_FAILED_CHARGES, Rule, RuleStatus, charge_for
from adledger.domain.wallets import available as available_balance
from adledger.services import effect_kinds, events, invoices, notifications, outbox
from adledger.services.event_data import Data, money, ref
from adledger.services.funding import fund_waiting, lock_waiting
from adledger.services.invoices import NewInvoice, open_invoice
from adledger.services.ledger import PlatformCredit, credit_from_platform
from adledger.store import audit
from adledger.store import auto_recharge as repo
from adledger.store import billing as billing_repo
from adledger.store import wallets as wallet_repo
from adledger.store.guard_models import AutoRechargeRule
from adledger.store.locks import LockScopeChanged
from adledger.store.models import Invoice, Wallet
from adledger.store.wallets import MovableWallet

PAID_NOTICE = "AUTO_RECHARGE_PAID"
SUSPENDED_NOTICE = "AUTO_RECHARGE_SUSPENDED"
CAP_NOTICE = "AUTO_RECHARGE_CAP_REACHED"


async def on_balances_changed(
    session: AsyncSession, wallet_ids: Sequence[int], now: datetime
) -> None:
    """Start one recharge for each wallet whose available balance fell below its active,
    armed rule's threshold, none in flight, within its monthly cap; re-arm the rules of
    wallets back at or above their threshold."""
    rules = [
        rule
        for rule in (await repo.lock_rules(session, wallet_ids)).values()
        if rule.status == RuleStatus.ACTIVE
    ]
    if not rules:
        return
    ids = [rule.wallet_id for rule in rules]
    wallets = {wallet.id: wallet for wallet in await wallet_repo.wallets_by_ids(session, ids)}
    sums = await wallet_repo.balances_by_wallet(session, ids)
    for rule in rules:
        wallet = wallets[rule.wallet_id]
        available = available_balance(sums.get(wallet.id, {}), wallet.credit_limit)
        await _decide(session, rule, wallet, available, now)


async def _decide(
    session: AsyncSession, rule: AutoRechargeRule, wallet: Wallet, available: int, now: datetime
) -> None:
    _roll_month(rule, now)
    if available >= rule.threshold:
        rule.armed = True
        return
    if not rule.armed or rule.pending_since is not None or rule.in_flight_invoice_id is not None:
        return
    rule.armed = False  # this crossing is served, or told why not
    minimum = PROVIDER_MINIMUM_MINOR[Currency(wallet.currency)]
    charge = charge_for(_numbers(rule), available, rule.recharged_this_month, minimum)
    if charge.amount == 0:
        if charge.capped and rule.cap_noted_month != rule.month:
            rule.cap_noted_month = rule.month
            await _notify(session, wallet, CAP_NOTICE, _cap_message(rule, wallet), now)
        return
    rule.crossings += 1
    rule.pending_since = now
    # Opened right after the commit (a request's edge runs it; a job's or a webhook's
    # leaves it to run-outbox): numbering it here would take the invoice counter after
    # the guard's rows.
    effect = effect_kinds.open_recharge(rule.wallet_id, rule.crossings, charge.amount)
    await outbox.declare(session, effect, now)


async def open_recharge(
    session: AsyncSession, wallet_id: int, crossing: int, amount: int, now: datetime
) -> int | None:
    """The effect `auto_recharge.open`, in its own transaction: the `crossing`-th recharge
    decided for the wallet opened as an invoice of `amount`, recorded in flight, its charge
    declared. Answers the invoice to charge: the one opened, or the one this crossing
    opened before (the effect run again); None when there is none (a rule disabled or
    suspended meanwhile: its mark is cleared; a crossing superseded by a rule set again)."""
    seen = await repo.rule_of(session, wallet_id)
    if seen is None or seen.crossings != crossing:
        return None
    if seen.pending_since is None:
        return seen.in_flight_invoice_id  # opened by an earlier run (None: paid since)
    if seen.status != RuleStatus.ACTIVE:
        await _drop_pending(session, wallet_id, crossing)
        return None
    wallet = await _wallet(session, wallet_id)
    invoice = await _recharge_invoice(session, wallet, amount, now)  # the invoice counter
    rule = await repo.lock_guard(session, wallet_id)  # then the guard: the one lock order
    if rule is None or not _pending(rule, crossing) or rule.status != RuleStatus.ACTIVE:
        # Changed between the read and the lock: rolled back (the invoice and its number
        # with it) and run again on what is committed now.
        raise LockScopeChanged("a recharge rule changed while its invoice was opened")
    rule.pending_since = None
    rule.in_flight_invoice_id = invoice.id
    # The effect that charges installments, keyed by the invoice: run by the edge right
    # after this commit, or by the caller (services/effects.py), else by run-outbox.
    await outbox.declare(session, effect_kinds.collect_invoice(invoice.id), now)
    await audit_rule(session, wallet, "AUTO_RECHARGE_STARTED", now, invoice.number, amount=amount)
    return invoice.id


def _pending(rule: AutoRechargeRule, crossing: int) -> bool:
    return rule.crossings == crossing and rule.pending_since is not None


async def _drop_pending(session: AsyncSession, wallet_id: int, crossing: int) -> None:
    """A rule disabled or suspended before its recharge was opened: none is (the mark is
    cleared, so a rule set again decides afresh)."""
    rule = await repo.lock_guard(session, wallet_id)
    if rule is not None and _pending(rule, crossing) and rule.status != RuleStatus.ACTIVE:
        rule.pending_since = None


def _roll_month(rule: AutoRechargeRule, now: datetime) -> None:
    """What the rule recharged counts per UTC month."""
    month = month_of(now)
    if rule.month != month:
        rule.month = month
        rule.recharged_this_month = 0


def _numbers(rule: AutoRechargeRule) -> Rule:
    return Rule(rule.threshold, rule.amount, rule.target_balance, rule.monthly_cap)


async def _recharge_invoice(
    session: AsyncSession, wallet: Wallet, amount: int, now: datetime
) -> Invoice:
    owner = await wallet_repo.owner_name(session, wallet)
    return await open_invoice(
        session,
        NewInvoice(
            wallet.business_center_id,
            wallet.id,
            InvoiceKind.AUTO_RECHARGE,
            wallet.currency,
            [(f"Automatic recharge of {owner}", amount)],
            now,
            0,  # charged to the card now
            next_charge_at=now,
        ),
    )


def _cap_message(rule: AutoRechargeRule, wallet: Wallet) -> str:
    cap = format_money(rule.monthly_cap or 0, wallet.currency)
    return (
        f"The balance fell below the automatic recharge threshold, but this month's cap of "
        f"{cap} is reached: no recharge until next month (or a higher cap)."
    )


# -- the charge's outcome: paid (webhooks.py), declined (card_charges.py), voided --------


async def recharge_paid(session: AsyncSession, invoice: Invoice, now: datetime) -> None:
    """The recharge's money enters the wallet's cash and funds its waiting and stopped
    campaigns (as a paid top-up does); the rule has nothing in flight any more and counts
    it in its month. (The invoice is locked and marked paid by the caller: once.)"""
    wallet_id = _wallet_of(invoice)
    amount = invoice.subtotal - invoice.discount
    waiting = await lock_waiting(session, wallet_id)
    await credit_from_platform(
        session,
        PlatformCredit(
            wallet_id,
            AccountKind.CASH,
            AccountKind.PAYMENTS_CLEARING,
            Money(amount, Currency(invoice.currency)),
            TransactionKind.TOP_UP,
            f"Automatic recharge paid ({invoice.number})",
            idempotency_key=f"invoice:{invoice.id}:paid",
            invoice_id=invoice.id,
        ),
    )
    await fund_waiting(session, wallet_id, waiting, now)
    rule = await repo.lock_guard(session, wallet_id)
    if rule is not None and rule.in_flight_invoice_id == invoice.id:
        _roll_month(rule, now)
        rule.in_flight_invoice_id = None
        rule.recharged_this_month += amount
        rule.failures = 0
    wallet = await _wallet(session, wallet_id)
    await audit_rule(session, wallet, "AUTO_RECHARGE_PAID", now, invoice.number, amount=amount)
    paid = format_money(amount, invoice.currency)
    message = f"Automatic recharge of {paid} paid by the saved card ({invoice.number})."
    await _notify(session, wallet, PAID_NOTICE, message, now)


async def charge_declined(
    session: AsyncSession,
    invoice: Invoice,
    error: str,
    retry_days: Sequence[int],
    now: datetime,
) -> bool:
    """A declined charge is tried again after the installments' delays (1, then 3 days);
    the MAX_FAILED_CHARGES-th decline voids the invoice and suspends the rule, with a
    notification and an `auto_recharge.suspended` event. True when it suspended. (The
    invoice is locked by the caller.)"""
    attempts = invoice.charge_attempts + 1
    rule = await repo.lock_guard(session, _wallet_of(invoice))
    ours = rule is not None and rule.in_flight_invoice_id == invoice.id
    if ours and rule is not None:
        rule.failures = attempts
    if attempts < MAX_FAILED_CHARGES:
        delay = timedelta(days=retry_days[min(attempts, len(retry_days)) - 1])
        await billing_repo.update_invoice(
            session,
            invoice.id,
            charge_attempts=attempts,
            next_charge_at=now + delay,
            last_charge_error=error,
        )
        await invoices.event(session, invoice, EventType.INVOICE_PAYMENT_FAILED, now)
        return False
    await _void_declined(session, invoice, attempts, error, now)
    if not ours or rule is None:
        return False
    rule.in_flight_invoice_id = None
    if rule.status != RuleStatus.ACTIVE:
        return False  # disabled meanwhile: nothing to suspend
    rule.status = RuleStatus.SUSPENDED.value
    await _suspended(session, rule, invoice, error, now)
    return True


async def _void_declined(
    session: AsyncSession, invoice: Invoice, attempts: int, error: str, now: datetime
) -> None:
    """Void here; at the provider by issue-invoices (`superseded_reference`, as a reduced
    installment's): a payment made there meanwhile is flagged, never lost."""
    await billing_repo.update_invoice(
        session,
        invoice.id,
        status=InvoiceStatus.VOID.value,
        charge_attempts=attempts,
        next_charge_at=None,
        last_charge_error=error,
        superseded_reference=invoice.payment_reference,
        payment_reference=None,
    )
    await invoices.event(session, invoice, EventType.INVOICE_PAYMENT_FAILED, now)
    await invoices.event(session, invoice, EventType.INVOICE_VOIDED, now)


async def _suspended(
    session: AsyncSession, rule: AutoRechargeRule, invoice: Invoice, error: str, now: datetime
) -> None:
    wallet = await _wallet(session, rule.wallet_id)
    message = (
        f"Automatic recharge suspended: invoice {invoice.number} could not be charged "
        f"{MAX_FAILED_CHARGES} times ({error}). Save a card that pays and set the rule "
        "again (setAutoRecharge)."
    )
    await _notify(session, wallet, SUSPENDED_NOTICE, message, now)
    data = snapshot(rule, wallet.currency) | {"invoice": ref("Invoice", invoice.id)}
    center_id = wallet.business_center_id
    suspended = EventType.AUTO_RECHARGE_SUSPENDED
    await events.record(session, center_id, suspended, "Wallet", wallet.id, data, now)
    await audit_rule(session, wallet, "AUTO_RECHARGE_SUSPENDED", now, message)


async def recharge_voided(session: AsyncSession, invoice: Invoice) -> None:
    """Voided at the provider: nothing is in flight any more (the rule may start another
    at the next crossing)."""
    rule = await repo.lock_guard(session, _wallet_of(invoice))
    if rule is not None and rule.in_flight_invoice_id == invoice.id:
        rule.in_flight_invoice_id = None


def snapshot(rule: AutoRechargeRule, currency: str) -> Data:
    """`AutoRechargeRule` as the API shows it, with its wallet (events' `data`)."""

    def optional(minor: int | None) -> Data | None:
        return None if minor is None else money(minor, currency)

    return {
        "wallet": ref("Wallet", rule.wallet_id),
        "threshold": money(rule.threshold, currency),
        "amount": optional(rule.amount),
        "targetBalance": optional(rule.target_balance),
        "monthlyCap": optional(rule.monthly_cap),
        "status": rule.status,
        "rechargedThisMonth": money(rule.recharged_this_month, currency),
    }


# -- helpers ---------------------------------------------------------------------------


def _wallet_of(invoice: Invoice) -> int:
    if invoice.wallet_id is None:
        raise InvariantBroken("invoice.wallet_id is not None (a recharge is of a wallet)")
    return invoice.wallet_id


async def _wallet(session: AsyncSession, wallet_id: int) -> Wallet:
    found = await wallet_repo.wallet(session, wallet_id)
    if found is None:
        raise InvariantBroken("wallet is not None (wallets are never deleted)")
    return found


async def _notify(
    session: AsyncSession, wallet: Wallet, kind: str, message: str, now: datetime
) -> None:
    await notifications.notify(session, wallet.business_center_id, kind, message, now)


async def audit_rule(
    session: AsyncSession,
    wallet: Wallet | MovableWallet,
    action: str,
    at: datetime,
    detail: str | None,
    actor_user_id: int | None = None,
    amount: int | None = None,
) -> None:
    """In the center's audit trail, about the wallet's automatic recharge."""
    owner = await wallet_repo.owner_name(session, wallet)
    entry = audit.Audited(
        wallet.business_center_id,
        actor_user_id,
        action,
        f"Wallet of {owner}",
        at,
        amount,
        wallet.currency,
        detail,
    )
    await audit.record(session, entry)
