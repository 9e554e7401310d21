"""Cancellation requests and the audit trail of invoices adjusted by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.locks import Level, register
from adledger.store.models import CancellationRequest, InvoiceAdjustment


async def insert_request(session: AsyncSession, request: CancellationRequest) -> None:
    session.add(request)
    await session.flush()


async def request(session: AsyncSession, request_id: int) -> CancellationRequest | None:
    return await session.get(CancellationRequest, request_id)


async def lock_request(session: AsyncSession, request_id: int) -> CancellationRequest | None:
    register(session, Level.CAMPAIGN_ROWS)
    stmt = (
        select(CancellationRequest)
        .where(CancellationRequest.id == request_id)
        .with_for_update(key_share=True)
    )
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def requests_of_campaigns(
    session: AsyncSession, campaign_ids: Sequence[int]
) -> list[CancellationRequest]:
    stmt = select(CancellationRequest).where(CancellationRequest.campaign_id.in_(campaign_ids))
    return list(await session.scalars(stmt))


async def requests(
    session: AsyncSession, status: str | None, limit: int, after_id: int | None
) -> list[Any]:
    """Oldest first: the billing department works through them in the order they came."""
    stmt = select(CancellationRequest).order_by(CancellationRequest.id).limit(limit)
    if status is not None:
        stmt = stmt.where(CancellationRequest.status == status)
    if after_id is not None:
        stmt = stmt.where(CancellationRequest.id > after_id)
    return list(await session.scalars(stmt))


async def audit(
    session: AsyncSession, invoice_id: int, actor: int, action: str, amount: int, reason: str
) -> None:
    session.add(
        InvoiceAdjustment(
            invoice_id=invoice_id, actor_user_id=actor, action=action, amount=amount, reason=reason
        )
    )
    await session.flush()


async def adjustments_of(
    session: AsyncSession, invoice_ids: Sequence[int]
) -> list[InvoiceAdjustment]:
    stmt = (
        select(InvoiceAdjustment)
        .where(InvoiceAdjustment.invoice_id.in_(invoice_ids))
        .order_by(InvoiceAdjustment.id)
    )
    return list(await session.scalars(stmt))
