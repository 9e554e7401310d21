"""Payment lots, refund requests and the provider refunds made for them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.refunds import OPEN_REQUEST, RefundReason, RefundRequestStatus, RefundStatus
from adledger.store.locks import Level, register
from adledger.store.models import (
    InactivityRefundPeriod,
    Invoice,
    PaymentLot,
    Refund,
    RefundRequest,
)


async def insert_lot(
    session: AsyncSession,
    *,
    center_id: int,
    invoice_id: int,
    payment_reference: str | None,
    currency: str,
    amount: int,
    paid_at: datetime,
) -> None:
    """Once per invoice, whoever records its payment first."""
    await session.execute(
        pg_insert(PaymentLot)
        .values(
            business_center_id=center_id,
            invoice_id=invoice_id,
            payment_reference=payment_reference,
            currency=currency,
            amount=amount,
            refunded=0,
            paid_at=paid_at,
        )
        .on_conflict_do_nothing(index_elements=["invoice_id"])
    )


async def lots_of_center(
    session: AsyncSession, center_id: int, currency: str, *, lock: bool = False
) -> list[PaymentLot]:
    """The center's refundable lots (a provider payment with something left of it),
    oldest first: lots refunded in full are neither read nor locked again."""
    stmt = (
        select(PaymentLot)
        .where(
            PaymentLot.business_center_id == center_id,
            PaymentLot.currency == currency,
            PaymentLot.payment_reference.is_not(None),
            PaymentLot.refunded < PaymentLot.amount,
        )
        .order_by(PaymentLot.id)
    )
    if lock:
        register(session, Level.REFUND_ROWS)
        stmt = stmt.with_for_update(key_share=True)
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def lots_of_campaign(
    session: AsyncSession, campaign_id: int, currency: str
) -> list[PaymentLot]:
    """The refundable lots of a campaign's own invoices (its installments), locked."""
    register(session, Level.REFUND_ROWS)
    stmt = (
        select(PaymentLot)
        .join(Invoice, Invoice.id == PaymentLot.invoice_id)
        .where(
            Invoice.campaign_id == campaign_id,
            PaymentLot.currency == currency,
            PaymentLot.payment_reference.is_not(None),
            PaymentLot.refunded < PaymentLot.amount,
        )
        .order_by(PaymentLot.id)
        .with_for_update(of=PaymentLot, key_share=True)
    )
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def lot_of_invoice(session: AsyncSession, invoice_id: int) -> PaymentLot | None:
    register(session, Level.REFUND_ROWS)
    stmt = select(PaymentLot).where(PaymentLot.invoice_id == invoice_id)
    stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def periods_of_request(session: AsyncSession, request_id: int) -> list[tuple[int, int]]:
    """(invoice id, amount paid) of the plan periods an inactivity refund covers."""
    stmt = (
        select(Invoice.id, Invoice.subtotal - Invoice.discount)
        .join(InactivityRefundPeriod, InactivityRefundPeriod.invoice_id == Invoice.id)
        .where(InactivityRefundPeriod.refund_request_id == request_id)
        .order_by(Invoice.id)
    )
    return [(i, int(amount)) for i, amount in (await session.execute(stmt)).all()]


async def insert_periods(
    session: AsyncSession, request_id: int, invoice_ids: Sequence[int]
) -> None:
    session.add_all(
        InactivityRefundPeriod(refund_request_id=request_id, invoice_id=i) for i in invoice_ids
    )
    await session.flush()


async def refundable_periods(
    session: AsyncSession, center_id: int, since: datetime, now: datetime
) -> list[Invoice]:
    """Paid plan invoices of the center for periods begun in [since, now) that no
    inactivity refund covers yet, newest first (a few rows, whatever the center's age)."""
    covered = select(InactivityRefundPeriod.invoice_id)
    stmt = (
        select(Invoice)
        .where(
            Invoice.business_center_id == center_id,
            Invoice.kind == "SUBSCRIPTION",
            Invoice.status == "PAID",
            Invoice.cycle_start >= since,
            Invoice.cycle_start < now,
            Invoice.id.not_in(covered),
        )
        .order_by(Invoice.cycle_start.desc())
    )
    return list(await session.scalars(stmt))


async def lots_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, PaymentLot]:
    stmt = select(PaymentLot).where(PaymentLot.id.in_(ids))
    return {lot.id: lot for lot in await session.scalars(stmt)}


async def change_refunded(session: AsyncSession, lot_id: int, delta: int) -> None:
    stmt = update(PaymentLot).where(PaymentLot.id == lot_id)
    await session.execute(stmt.values(refunded=PaymentLot.refunded + delta))


async def requested_total(session: AsyncSession, center_id: int, currency: str) -> int:
    """What open requests for unused balance, not yet split into refunds, will take from
    the lots (an inactivity refund goes back to its own plan payments, if any)."""
    stmt = select(func.coalesce(func.sum(RefundRequest.amount), 0)).where(
        RefundRequest.business_center_id == center_id,
        RefundRequest.currency == currency,
        RefundRequest.status == RefundRequestStatus.REQUESTED,
        RefundRequest.reason == RefundReason.CREDIT_BALANCE,
    )
    return int((await session.scalars(stmt)).one())


async def refunded_campaign(session: AsyncSession, campaign_id: int) -> bool:
    stmt = select(RefundRequest.id).where(
        RefundRequest.campaign_id == campaign_id,
        RefundRequest.reason == RefundReason.REJECTED_CAMPAIGN,
    )
    return await session.scalar(stmt.limit(1)) is not None


async def insert_request(session: AsyncSession, request: RefundRequest) -> RefundRequest:
    session.add(request)
    await session.flush()
    return request


async def lock_request(session: AsyncSession, request_id: int) -> RefundRequest | None:
    register(session, Level.REFUND_ROWS)
    stmt = select(RefundRequest).where(RefundRequest.id == request_id)
    stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def requests_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[RefundRequest]:
    stmt = select(RefundRequest).where(RefundRequest.id.in_(ids))
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def update_request(session: AsyncSession, request_id: int, **values: Any) -> None:
    stmt = update(RefundRequest).where(RefundRequest.id == request_id)
    await session.execute(stmt.values(**values))


async def insert_refund(session: AsyncSession, refund: Refund) -> Refund:
    session.add(refund)
    await session.flush()
    return refund


async def refunds_of_requests(
    session: AsyncSession, request_ids: Sequence[int], *, lock: bool = False
) -> list[Refund]:
    stmt = select(Refund).where(Refund.refund_request_id.in_(request_ids)).order_by(Refund.id)
    if lock:
        register(session, Level.REFUND_ROWS)
        stmt = stmt.with_for_update(key_share=True)
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def refund_id_by_reference(session: AsyncSession, reference: str) -> int | None:
    return await session.scalar(select(Refund.id).where(Refund.provider_reference == reference))


async def refund(session: AsyncSession, refund_id: int) -> Refund | None:
    stmt = select(Refund).where(Refund.id == refund_id).execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def lock_refund(session: AsyncSession, refund_id: int) -> Refund | None:
    register(session, Level.REFUND_ROWS)
    stmt = select(Refund).where(Refund.id == refund_id).with_for_update(key_share=True)
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def update_refund(session: AsyncSession, refund_id: int, **values: Any) -> None:
    await session.execute(update(Refund).where(Refund.id == refund_id).values(**values))


async def unsent_refund_ids(session: AsyncSession, limit: int) -> list[int]:
    """Refunds decided but not yet made at the provider (an outage, a crash)."""
    stmt = (
        select(Refund.id)
        .where(Refund.status == RefundStatus.PENDING, Refund.provider_reference.is_(None))
        .order_by(Refund.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def request_pages(
    session: AsyncSession, status: str | None, limit: int, after_id: int | None
) -> list[Any]:
    """Oldest first, for the billing department."""
    stmt = select(RefundRequest).order_by(RefundRequest.id).limit(limit)
    if status is not None:
        stmt = stmt.where(RefundRequest.status == status)
    if after_id is not None:
        stmt = stmt.where(RefundRequest.id > after_id)
    return list(await session.scalars(stmt))


async def pending_by_wallet(session: AsyncSession, wallet_ids: Sequence[int]) -> dict[int, int]:
    """Per wallet, what its open refund requests took out of its cash and has not yet
    gone back to the payments (nor come back to the cash)."""
    settled = (
        select(func.coalesce(func.sum(Refund.amount), 0))
        .where(Refund.refund_request_id == RefundRequest.id, Refund.status != RefundStatus.PENDING)
        .scalar_subquery()
    )
    stmt = (
        select(RefundRequest.wallet_id, func.sum(RefundRequest.amount - settled))
        .where(RefundRequest.wallet_id.in_(wallet_ids), RefundRequest.status.in_(OPEN_REQUEST))
        # An inactivity refund takes nothing out of the balance.
        .where(RefundRequest.reason != RefundReason.INACTIVITY)
        .group_by(RefundRequest.wallet_id)
    )
    return {wallet_id: int(total) for wallet_id, total in (await session.execute(stmt)).all()}
