"""Keyset pages for many parents in one statement, so a list of N parents costs one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from adledger.store.models import Base

M = TypeVar("M", bound=Base)


async def pages_by_parent(
    session: AsyncSession,
    model: type[M],
    parent_column: Any,
    parent_ids: Sequence[int],
    *,
    limit: int,
    after_id: int | None,
    descending: bool = False,
    where: Sequence[ColumnElement[bool]] = (),
) -> dict[int, list[M]]:
    """Up to `limit` rows per parent, ordered by id, after the cursor id."""
    order = model.id.desc() if descending else model.id.asc()  # type: ignore[attr-defined]
    row_number = func.row_number().over(partition_by=parent_column, order_by=order)
    inner: Select[Any] = select(model, row_number.label("rn")).where(parent_column.in_(parent_ids))
    for clause in (*where, *_after(model, after_id, descending)):
        inner = inner.where(clause)
    sub = inner.subquery()
    alias = aliased(model, sub)
    stmt = select(alias).where(sub.c.rn <= limit).order_by(sub.c.rn)
    pages: dict[int, list[M]] = defaultdict(list)
    for row in await session.scalars(stmt):
        pages[getattr(row, parent_column.key)].append(row)
    return pages


def _after(model: Any, after_id: int | None, descending: bool) -> list[ColumnElement[bool]]:
    if after_id is None:
        return []
    return [model.id < after_id] if descending else [model.id > after_id]
