"""Plan subscriptions STARTER and PRO (DESIGN §9): a monthly invoice, paid from the credit
balance when it covers it, otherwise through the provider; ACTIVE once paid."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission
from adledger.domain.billing import InvoiceKind, Plan, SubscriptionStatus, add_months
from adledger.domain.errors import InvalidState, InvariantBroken, not_found
from adledger.domain.events import EventType
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.domain.money import Currency
from adledger.services import access, effect_kinds, events, outbox
from adledger.services import event_data_money as snapshots
from adledger.services.actor import Actor
from adledger.services.config import BillingConfig
from adledger.services.idempotency import run_idempotent
from adledger.services.invoices import NewInvoice, mark_paid, open_invoice, provider_key
from adledger.services.ledger import post_entry
from adledger.store import billing as repo
from adledger.store import business_centers as centers
from adledger.store import ledger as ledger_repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import BusinessCenter, Invoice, PlanSubscription

CENTER_FIELD = ("input", "businessCenterId")


@dataclass(frozen=True, slots=True)
class SubscribeOutcome:
    business_center_id: int
    invoice_id: int
    paid_from_balance: bool


async def subscribe(
    session: AsyncSession,
    actor: Actor,
    center_id: int,
    plan: Plan,
    pay_from_balance: bool,
    config: BillingConfig,
    now: datetime,
    key: str | None = None,
) -> SubscribeOutcome:
    await access.require(
        session, actor, center_id, Permission.MOVE_MONEY, field=CENTER_FIELD, what="business center"
    )
    request = {"center": center_id, "plan": plan.value, "from_balance": pay_from_balance}

    async def run() -> SubscribeOutcome:
        center = await centers.lock_business_center(session, center_id)
        if center is None:
            raise not_found("business center", CENTER_FIELD)
        subscription = await _fresh_subscription(session, center, plan, pay_from_balance, now)
        return await _bill_period(session, center, subscription, config, now, actor.user_id)

    outcome = await run_idempotent(
        session, actor, key, "subscribeToPlan", request, SubscribeOutcome, run
    )
    if not outcome.paid_from_balance:  # declared on a replay too: a retry issues it now
        await _declare_issue(session, outcome.invoice_id)
    return outcome


async def _declare_issue(session: AsyncSession, invoice_id: int) -> None:
    """The invoice issued at the provider after the commit (one it does not take now is
    issued by run-outbox, and by issue-pending-invoices)."""
    await outbox.declare(session, effect_kinds.issue_invoice(invoice_id, provider_key(invoice_id)))


async def cancel(session: AsyncSession, actor: Actor, center_id: int, now: datetime) -> int:
    """Cancellation takes effect at the end of the paid period (the seed's policy)."""
    await access.require(
        session, actor, center_id, Permission.MOVE_MONEY, field=CENTER_FIELD, what="business center"
    )
    subscription = await repo.lock_subscription(session, center_id)
    if subscription is None or subscription.status != SubscriptionStatus.ACTIVE:
        raise InvalidState("there is no active subscription to cancel", CENTER_FIELD)
    subscription.status = SubscriptionStatus.CANCELS_AT_PERIOD_END.value
    await repo.save(session, subscription)
    await _tell(session, subscription, EventType.PLAN_SUBSCRIPTION_CANCELED, now)
    return center_id


RENEWING = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.CANCELS_AT_PERIOD_END.value)


class Renewal(enum.StrEnum):
    PAID_FROM_BALANCE = "paid from balance"
    INVOICED = "invoiced"
    DEACTIVATED = "deactivated"
    NOT_DUE = "not due"


@dataclass(frozen=True, slots=True)
class RenewalOutcome:
    result: Renewal
    invoice_id: int | None = None


async def due_for_renewal(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    return await repo.due_subscription_ids(session, now, RENEWING, limit)


async def renew_one(
    session: AsyncSession, subscription_id: int, config: BillingConfig, now: datetime
) -> RenewalOutcome:
    """Close one ended period, in the caller's transaction (one per subscription, so one
    failure rolls back one renewal), with the issue of its invoice declared in it.
    NOT_DUE: renewed meanwhile, or by another worker."""
    subscription = await repo.lock_due_subscription(session, subscription_id, now, RENEWING)
    if subscription is None:
        return RenewalOutcome(Renewal.NOT_DUE)
    outcome = await _renew(session, subscription, config, now)
    if outcome is None:
        return RenewalOutcome(Renewal.DEACTIVATED)
    renewed = EventType.PLAN_SUBSCRIPTION_RENEWED
    await _tell(session, subscription, renewed, now, outcome.invoice_id)
    if outcome.paid_from_balance:
        return RenewalOutcome(Renewal.PAID_FROM_BALANCE, outcome.invoice_id)
    await _declare_issue(session, outcome.invoice_id)
    return RenewalOutcome(Renewal.INVOICED, outcome.invoice_id)


async def activate_paid(session: AsyncSession, invoice: Invoice, paid_at: datetime) -> None:
    """The provider says the subscription invoice is paid: book it and activate."""
    subscription = await repo.lock_subscription_of_invoice(session, invoice.id)
    clearing = await ledger_repo.platform_account_id(
        session, AccountKind.PAYMENTS_CLEARING, invoice.currency
    )
    revenue = await ledger_repo.platform_account_id(session, AccountKind.REVENUE, invoice.currency)
    await post_entry(
        session,
        operation="subscription_payment",
        moves=[
            Move(
                clearing,
                revenue,
                invoice.subtotal - invoice.discount,
                TransactionKind.SUBSCRIPTION_PAYMENT,
            )
        ],
        description=f"Plan subscription paid ({invoice.number})",
        actor_user_id=None,
        idempotency_key=f"invoice:{invoice.id}:paid",
        invoice_id=invoice.id,
    )
    if subscription is not None:
        subscription.status = SubscriptionStatus.ACTIVE.value
        subscription.open_invoice_id = None
        await repo.save(session, subscription)


async def release_unpaid(session: AsyncSession, invoice: Invoice) -> None:
    """A voided subscription invoice leaves the subscription INACTIVE and free to restart."""
    subscription = await repo.lock_subscription_of_invoice(session, invoice.id)
    if subscription is not None:
        subscription.open_invoice_id = None
        await repo.save(session, subscription)


async def _fresh_subscription(
    session: AsyncSession,
    center: BusinessCenter,
    plan: Plan,
    pay_from_balance: bool,
    now: datetime,
) -> PlanSubscription:
    subscription = await repo.lock_subscription(session, center.id)
    if subscription is not None and subscription.status != SubscriptionStatus.INACTIVE:
        raise InvalidState("the business center already has a subscription", CENTER_FIELD)
    if subscription is not None and subscription.open_invoice_id is not None:
        raise InvalidState("the last subscription invoice is still open", CENTER_FIELD)
    subscription = subscription or PlanSubscription(business_center_id=center.id)
    subscription.plan = plan.value
    subscription.status = SubscriptionStatus.INACTIVE.value
    subscription.anchor, subscription.period_index = now, 0
    subscription.current_period_start, subscription.current_period_end = now, add_months(now, 1)
    subscription.pay_from_credit_balance = pay_from_balance
    await repo.save(session, subscription)
    return subscription


async def _renew(
    session: AsyncSession, subscription: PlanSubscription, config: BillingConfig, now: datetime
) -> SubscribeOutcome | None:
    if subscription.status == SubscriptionStatus.CANCELS_AT_PERIOD_END:
        subscription.status = SubscriptionStatus.INACTIVE.value
        await repo.save(session, subscription)
        return None
    subscription.period_index += 1
    start = add_months(subscription.anchor, subscription.period_index)
    subscription.current_period_start = start
    subscription.current_period_end = add_months(subscription.anchor, subscription.period_index + 1)
    center = await centers.business_center(session, subscription.business_center_id)
    if center is None:
        raise InvariantBroken("center is not None")
    return await _bill_period(session, center, subscription, config, start, None)


async def _bill_period(
    session: AsyncSession,
    center: BusinessCenter,
    subscription: PlanSubscription,
    config: BillingConfig,
    issue_on: datetime,
    actor_user_id: int | None,
) -> SubscribeOutcome:
    """Invoice the current period; pay it from the credit balance when allowed and covered,
    otherwise the subscription waits INACTIVE for the provider invoice to be paid."""
    plan, currency = Plan(subscription.plan), Currency(center.currency)
    price = config.plan_price(plan, currency)
    wallet = (await wallet_repo.wallets_of_centers(session, [center.id]))[0]
    cash = await wallet_repo.wallet_account(session, wallet.id, AccountKind.CASH)
    if subscription.pay_from_credit_balance:
        # Ledger accounts before the invoice counter (the one lock order): a top-up of this
        # wallet takes cash then the counter too, so the two queue instead of deadlocking.
        await ledger_repo.lock_accounts(session, [cash.id])
    period = (
        f"{subscription.current_period_start:%d %b %Y} - {subscription.current_period_end:%d %b %Y}"
    )
    invoice = await open_invoice(
        session,
        NewInvoice(
            center.id,
            wallet.id,
            InvoiceKind.SUBSCRIPTION,
            center.currency,
            [(f"{plan.value.title()} plan, {period}", price.minor)],
            issue_on,
            config.days_until_due,
        ),
    )
    # The period it pays for (an inactivity refund looks for it); one invoice a period.
    await repo.update_invoice(session, invoice.id, cycle_start=subscription.current_period_start)
    paid = subscription.pay_from_credit_balance and await _pay_from_balance(
        session, cash.id, invoice, issue_on, actor_user_id
    )
    subscription.status = (SubscriptionStatus.ACTIVE if paid else SubscriptionStatus.INACTIVE).value
    subscription.open_invoice_id = None if paid else invoice.id
    await repo.save(session, subscription)
    return SubscribeOutcome(center.id, invoice.id, paid)


async def _pay_from_balance(
    session: AsyncSession,
    cash_id: int,
    invoice: Invoice,
    paid_at: datetime,
    actor_user_id: int | None,
) -> bool:
    """Cash was locked before the invoice was numbered; this lock is already ours."""
    locked = (await ledger_repo.lock_accounts(session, [cash_id]))[cash_id]
    if locked.balance < invoice.subtotal:
        return False
    revenue = await ledger_repo.platform_account_id(session, AccountKind.REVENUE, invoice.currency)
    await post_entry(
        session,
        operation="subscription_payment",
        moves=[Move(cash_id, revenue, invoice.subtotal, TransactionKind.SUBSCRIPTION_PAYMENT)],
        description=f"Plan subscription ({invoice.number})",
        actor_user_id=actor_user_id,
        idempotency_key=f"invoice:{invoice.id}:paid",
        invoice_id=invoice.id,
    )
    await mark_paid(session, invoice, paid_at)
    return True


async def _tell(
    session: AsyncSession,
    subscription: PlanSubscription,
    type_: EventType,
    now: datetime,
    invoice_id: int | None = None,
) -> None:
    """The subscription's event, as this change leaves it (a renewal: its new period)."""
    center_id = subscription.business_center_id
    data = snapshots.plan_subscription(subscription, invoice_id)
    await events.record(session, center_id, type_, "BusinessCenter", center_id, data, now)
