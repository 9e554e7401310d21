from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.models import IdempotencyRecord


async def claim(
    session: AsyncSession, user_id: int, key: str, operation: str, request_hash: str
) -> int | None:
    """Insert the key; returns its id, or None when another transaction already holds it.

    A concurrent insert of the same key waits here until the holder commits or rolls
    back, which is what makes twenty simultaneous retries produce one effect.
    """
    stmt = (
        pg_insert(IdempotencyRecord)
        .values(user_id=user_id, key=key, operation=operation, request_hash=request_hash, result={})
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyRecord.id)
    )
    return await session.scalar(stmt)


async def existing(session: AsyncSession, user_id: int, key: str) -> IdempotencyRecord | None:
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key
    )
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def save_result(session: AsyncSession, record_id: int, result: dict[str, Any]) -> None:
    stmt = update(IdempotencyRecord).where(IdempotencyRecord.id == record_id)
    await session.execute(stmt.values(result=result))
