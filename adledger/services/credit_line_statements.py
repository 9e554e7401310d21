"""Credit-line statements (DESIGN §7, §8): at the end of each of a business center's
credit-line cycles (the calendar month, UTC, or 28 days counted from when the line was
first granted), one invoice for what its credit line paid in the cycle, a line per
campaign that delivered on it, due after the line's net terms; paid, it gives that amount
back to the credit line. A cycle with no delivery issues no invoice.

Exactly once per center and cycle: a statement is opened under the center's lock after
checking again that none exists, so a second worker or a rerun finds it and stops. The
partial unique index on (center, kind, cycle_start) stands behind that check.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.billing import InvoiceKind, add_months
from adledger.domain.errors import InvariantBroken, NotFound
from adledger.domain.ledger import AccountKind, TransactionKind
from adledger.domain.money import Currency, Money, format_money
from adledger.domain.schedules import CYCLE_DAYS, Cycle, CycleKind, cycle_at
from adledger.services import effect_kinds, funding, invoices, outbox
from adledger.services.config import BillingConfig
from adledger.services.ledger import PlatformCredit, credit_from_platform
from adledger.store import billing as billing_repo
from adledger.store import business_centers as centers
from adledger.store import credit_lines as repo
from adledger.store import ledger as ledger_repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import BusinessCenter, Invoice, Wallet

log = logging.getLogger(__name__)

# A center whose statements stopped (a long outage) is billed for at most this many
# past months; older spend is finance's to look at.
LOOKBACK_MONTHS = 12


def month_start(moment: datetime) -> datetime:
    """The first instant (UTC) of the calendar month `moment` falls in."""
    utc = moment.astimezone(UTC)
    return utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def due_statements(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[int, datetime]]:
    """(center id, cycle start) of cycles ended by `now` whose credit line paid for spend
    and that have no statement yet. Read without locks: `close_one` checks again."""
    since = add_months(month_start(now), -LOOKBACK_MONTHS)
    return await repo.cycles_without_statement(session, since, now, limit)


async def close_one(
    session: AsyncSession, center_id: int, start: datetime, config: BillingConfig, now: datetime
) -> int | None:
    """Open the cycle's statement unless there is one or nothing to bill: the id of the
    statement it opened, whose issue at the provider after the commit it declares."""
    center = await centers.lock_business_center(session, center_id)
    if center is None:
        return None
    cycle = _cycle_of(center, start)
    if cycle.start != start or cycle.end > now:
        return None
    if await repo.statement_id(session, center_id, cycle.start) is not None:
        return None
    wallet = await _center_wallet(session, center_id)
    drawn = await repo.drawn_by_campaign(session, wallet.id, cycle.start, cycle.end)
    if sum(amount for _, amount in drawn) <= 0:
        return None
    lines = [(_line(name, center, cycle), amount) for name, amount in drawn]
    invoice = await invoices.open_invoice(session, _statement(center, wallet, cycle, lines, config))
    await billing_repo.update_invoice(session, invoice.id, cycle_start=cycle.start)
    key = invoices.provider_key(invoice.id)
    await outbox.declare(session, effect_kinds.issue_invoice(invoice.id, key))
    return invoice.id


def _cycle_of(center: BusinessCenter, start: datetime) -> Cycle:
    kind = CycleKind(center.credit_line_cycle or CycleKind.CALENDAR_MONTH.value)
    anchor = center.credit_line_cycle_anchor
    if anchor is None:
        kind = CycleKind.CALENDAR_MONTH
    return cycle_at(kind, anchor or start, start.astimezone(UTC))


def _line(campaign: str | None, center: BusinessCenter, cycle: Cycle) -> str:
    if cycle.end - cycle.start == timedelta(days=CYCLE_DAYS) and center.credit_line_cycle_anchor:
        period = f"{cycle.start:%Y-%m-%d} to {cycle.end - timedelta(days=1):%Y-%m-%d}"
    else:
        period = f"{cycle.start:%B %Y}"
    if campaign is None:
        return f"Credit line usage, {period}"
    return f"Campaign {campaign}: delivery, {period}"


def _statement(
    center: BusinessCenter,
    wallet: Wallet,
    cycle: Cycle,
    lines: list[tuple[str, int]],
    config: BillingConfig,
) -> invoices.NewInvoice:
    net_terms = center.credit_line_net_terms_days
    return invoices.NewInvoice(
        center_id=center.id,
        wallet_id=wallet.id,
        kind=InvoiceKind.CREDIT_LINE_CYCLE,
        currency=wallet.currency,
        lines=lines,
        issue_on=cycle.end,
        days_until_due=config.days_until_due if net_terms is None else net_terms,
    )


async def credit_line_paid(session: AsyncSession, invoice: Invoice, paid_at: datetime) -> None:
    """Give the paid amount back to the credit line, once (the entry's key is the
    invoice's), but never more than the line has in use: the rest is flagged for finance.
    Campaigns waiting for money may then start, as after any money arriving."""
    if invoice.wallet_id is None:
        raise InvariantBroken("invoice.wallet_id is not None")
    wallet_id = invoice.wallet_id
    locked = await funding.lock_waiting(session, wallet_id)
    used = await _used_locked(session, wallet_id)
    paid = invoice.subtotal - invoice.discount
    restored = min(paid, used)
    if restored < paid:
        await _flag_overpaid(session, invoice, paid, used)
    if restored > 0:
        await credit_from_platform(session, _repayment(invoice, restored))
    await funding.fund_waiting(session, wallet_id, locked, paid_at)


async def _used_locked(session: AsyncSession, wallet_id: int) -> int:
    """What the credit line has in use, with every bucket of the wallet locked in id order
    (the credit line has the highest id; locking it alone first would break that order
    for funding, which locks cash and vouchers after)."""
    accounts = (await wallet_repo.bucket_accounts(session, [wallet_id]))[wallet_id]
    states = await ledger_repo.lock_accounts(session, list(accounts.values()))
    return -states[accounts[AccountKind.CREDIT_LINE]].balance


async def _flag_overpaid(session: AsyncSession, invoice: Invoice, paid: int, used: int) -> None:
    reason = (
        f"paid {format_money(paid, invoice.currency)} for a credit line with "
        f"{format_money(used, invoice.currency)} in use: "
        f"{format_money(paid - used, invoice.currency)} not restored, to refund or credit"
    )
    log.warning("credit-line statement %s flagged: %s", invoice.number, reason)
    await invoices.flag(session, invoice, reason)


def _repayment(invoice: Invoice, amount: int) -> PlatformCredit:
    if invoice.wallet_id is None:
        raise InvariantBroken("invoice.wallet_id is not None")
    return PlatformCredit(
        invoice.wallet_id,
        AccountKind.CREDIT_LINE,
        AccountKind.PAYMENTS_CLEARING,
        Money(amount, Currency(invoice.currency)),
        TransactionKind.CREDIT_LINE_REPAYMENT,
        f"Credit-line statement {invoice.number} paid",
        idempotency_key=f"invoice:{invoice.id}:credit_line_repaid",
        invoice_id=invoice.id,
    )


async def _center_wallet(session: AsyncSession, center_id: int) -> Wallet:
    found = await wallet_repo.wallets_of_centers(session, [center_id])
    if not found:
        raise NotFound("business center has no wallet")
    return found[0]
