"""What a business center's credit line paid per cycle (and per campaign), and its
statements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Select, and_, case, exists, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.billing import InvoiceKind
from adledger.domain.ledger import AccountKind, TransactionKind
from adledger.store.models import (
    BusinessCenter,
    Campaign,
    Invoice,
    LedgerAccount,
    LedgerEntry,
    LedgerPosting,
    Wallet,
)

_CYCLE_KIND = InvoiceKind.CREDIT_LINE_CYCLE.value


def _drawn() -> Any:
    # Spend takes from the credit line with negative postings; a reversal would be positive.
    return func.sum(-LedgerPosting.amount)


def _center_line_spend(*columns: Any) -> Select[*tuple[Any, ...]]:
    """SPEND postings on the credit line of a center's own wallet (not an ad account's)."""
    return (
        select(*columns)
        .select_from(LedgerPosting)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .join(Wallet, Wallet.id == LedgerAccount.wallet_id)
        .where(
            LedgerAccount.kind == AccountKind.CREDIT_LINE.value,
            Wallet.ad_account_id.is_(None),
            LedgerPosting.kind == TransactionKind.SPEND.value,
        )
    )


async def cycles_without_statement(
    session: AsyncSession, since: datetime, now: datetime, limit: int
) -> list[tuple[int, datetime]]:
    """(center id, cycle start) of credit-line cycles ended by `now`, since `since`, whose
    credit-line spend is above zero and that have no statement yet, oldest first. A cycle
    is the calendar month (UTC), or 28 days counted from the center's anchor."""
    start = _cycle_start()
    drawn = (
        _center_line_spend(Wallet.business_center_id.label("center_id"), start.label("start"))
        .join(BusinessCenter, BusinessCenter.id == Wallet.business_center_id)
        .where(LedgerPosting.created_at >= since, LedgerPosting.created_at < now)
        .where(_cycle_end(start) <= now)
        .group_by(Wallet.business_center_id, start)
        .having(_drawn() > 0)
        .subquery()
    )
    billed = exists().where(
        and_(
            Invoice.business_center_id == drawn.c.center_id,
            Invoice.kind == _CYCLE_KIND,
            Invoice.cycle_start == drawn.c.start,
        )
    )
    stmt = (
        select(drawn.c.center_id, drawn.c.start)
        .where(~billed)
        .order_by(drawn.c.start, drawn.c.center_id)
        .limit(limit)
    )
    return [(center_id, start) for center_id, start in (await session.execute(stmt)).all()]


def _twenty_eight_days() -> Any:
    return and_(
        BusinessCenter.credit_line_cycle == "TWENTY_EIGHT_DAYS",
        BusinessCenter.credit_line_cycle_anchor.is_not(None),
    )


def _cycle_start() -> Any:
    month = func.date_trunc("month", LedgerPosting.created_at, "UTC", type_=DateTime(True))
    binned = func.date_bin(
        literal_column("interval '28 days'"),
        LedgerPosting.created_at,
        BusinessCenter.credit_line_cycle_anchor,
        type_=DateTime(True),
    )
    return case((_twenty_eight_days(), binned), else_=month)


def _cycle_end(start: Any) -> Any:
    return case(
        (_twenty_eight_days(), start + literal_column("interval '28 days'")),
        else_=start + literal_column("interval '1 month'"),
    )


async def drawn_by_campaign(
    session: AsyncSession, wallet_id: int, start: datetime, end: datetime
) -> list[tuple[str | None, int]]:
    """What the wallet's credit line paid for spend in [start, end), per campaign (by
    name, None for spend no campaign names), in the order the campaigns were made."""
    stmt = (
        _center_line_spend(Campaign.name, _drawn())
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .outerjoin(Campaign, Campaign.id == LedgerEntry.campaign_id)
        .where(
            Wallet.id == wallet_id,
            LedgerPosting.created_at >= start,
            LedgerPosting.created_at < end,
        )
        .group_by(Campaign.id, Campaign.name)
        .having(_drawn() != 0)
        .order_by(Campaign.id.nulls_last())
    )
    return [(name, int(amount)) for name, amount in (await session.execute(stmt)).all()]


async def statement_id(session: AsyncSession, center_id: int, cycle_start: datetime) -> int | None:
    stmt = select(Invoice.id).where(
        Invoice.business_center_id == center_id,
        Invoice.kind == _CYCLE_KIND,
        Invoice.cycle_start == cycle_start,
    )
    return await session.scalar(stmt)
