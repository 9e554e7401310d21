"""Invoices of business centers, a page per center: every kind a center is billed for."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.models import Invoice
from adledger.store.pagination import pages_by_parent


async def center_invoice_pages(
    session: AsyncSession,
    center_ids: Sequence[int],
    *,
    limit: int,
    after_id: int | None,
    status: str | None = None,
    kind: str | None = None,
) -> dict[int, list[Invoice]]:
    """Up to `limit` invoices per center, newest (highest id) first, after the cursor id,
    optionally only those of one status and/or one kind: one statement for every center."""
    where: list[ColumnElement[bool]] = []
    if status is not None:
        where.append(Invoice.status == status)
    if kind is not None:
        where.append(Invoice.kind == kind)
    return await pages_by_parent(
        session,
        Invoice,
        Invoice.business_center_id,
        center_ids,
        limit=limit,
        after_id=after_id,
        descending=True,
        where=where,
    )
