"""Engine and session factory. Services receive a session; only the edges commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> AsyncEngine:
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after the edge commits; readers that
    # need fresh rows ask for them with populate_existing.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def transaction_runner(
    sessions: async_sessionmaker[AsyncSession],
) -> Callable[[Callable[[AsyncSession], Awaitable[T]]], Awaitable[T]]:
    """Each call runs one unit of work in a fresh session and commits it: the edge's way to
    give multi-step work (a write, a provider call, another write) its transactions."""

    async def transact(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with sessions() as session:
            result = await work(session)
            await session.commit()
            return result

    return transact  # type: ignore[return-value]
