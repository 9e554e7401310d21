"""What a business center's credit line paid per calendar month, and its statements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Select, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.billing import InvoiceKind
from adledger.domain.ledger import AccountKind, TransactionKind
from adledger.store.models import Invoice, LedgerAccount, LedgerPosting, Wallet

_CYCLE_KIND = InvoiceKind.CREDIT_LINE_CYCLE.value


def _drawn() -> Any:
    # Spend takes from the credit line with negative postings; a reversal would be positive.
    return func.sum(-LedgerPosting.amount)


def _center_line_spend(*columns: Any) -> Select[*tuple[Any, ...]]:
    """SPEND postings on the credit line of a center's own wallet (not an ad account's)."""
    return (
        select(*columns)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .join(Wallet, Wallet.id == LedgerAccount.wallet_id)
        .where(
            LedgerAccount.kind == AccountKind.CREDIT_LINE.value,
            Wallet.ad_account_id.is_(None),
            LedgerPosting.kind == TransactionKind.SPEND.value,
        )
    )


async def months_without_statement(
    session: AsyncSession, since: datetime, until: datetime, limit: int
) -> list[tuple[int, datetime]]:
    """(center id, UTC month start) for months in [since, until) whose credit-line spend
    is above zero and that have no statement yet, oldest month first."""
    month = func.date_trunc("month", LedgerPosting.created_at, "UTC", type_=DateTime(True))
    drawn = (
        _center_line_spend(Wallet.business_center_id.label("center_id"), month.label("month"))
        .where(LedgerPosting.created_at >= since, LedgerPosting.created_at < until)
        .group_by(Wallet.business_center_id, month)
        .having(_drawn() > 0)
        .subquery()
    )
    billed = exists().where(
        and_(
            Invoice.business_center_id == drawn.c.center_id,
            Invoice.kind == _CYCLE_KIND,
            Invoice.cycle_start == drawn.c.month,
        )
    )
    stmt = (
        select(drawn.c.center_id, drawn.c.month)
        .where(~billed)
        .order_by(drawn.c.month, drawn.c.center_id)
        .limit(limit)
    )
    return [(center_id, start) for center_id, start in (await session.execute(stmt)).all()]


async def drawn_from_credit_line(
    session: AsyncSession, wallet_id: int, start: datetime, end: datetime
) -> int:
    """What the wallet's credit line paid for spend in [start, end), in minor units."""
    stmt = _center_line_spend(func.coalesce(_drawn(), 0)).where(
        Wallet.id == wallet_id,
        LedgerPosting.created_at >= start,
        LedgerPosting.created_at < end,
    )
    return int((await session.scalars(stmt)).one())


async def statement_id(session: AsyncSession, center_id: int, cycle_start: datetime) -> int | None:
    stmt = select(Invoice.id).where(
        Invoice.business_center_id == center_id,
        Invoice.kind == _CYCLE_KIND,
        Invoice.cycle_start == cycle_start,
    )
    return await session.scalar(stmt)
