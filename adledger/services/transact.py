"""Work that spans several transactions (a provider call between two writes) receives a
`Transact` from the edge: each call runs one unit of work in its own committed
transaction. Services themselves still never commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


class Transact(Protocol):
    async def __call__(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T: ...
