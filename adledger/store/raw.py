"""Hot-path statements on the session's own asyncpg connection, inside its transaction.

A statement through the ORM session costs about 0.25 ms of CPU in this process before the
database sees it (compile-cache lookup, parameter processing, result and identity-map
bookkeeping, a greenlet switch), several times what asyncpg's prepared statement costs
(issue 28's profile: SQLAlchemy and asyncpg were 55 % of a `transferBalance`). The
statements a money mutation runs on every request go through here instead: plain SQL with
`$n` parameters, prepared once per connection by asyncpg's statement cache, answered as
asyncpg Records.

Same transaction, same connection: the session's (its BEGIN is sent first when the session
has not started one yet; an AUTOCOMMIT connection stays in autocommit). Nothing here goes
through the ORM: no flush happens first, so a caller never reads here what it added to the
session and did not flush. Each statement is told to the observers (`observe`), as
SQLAlchemy's `before_cursor_execute` tells its listeners, so the test suite's statement
counts see these too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncpg import Connection, Record
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Observer = Callable[[str], None]
_observers: list[Observer] = []


def observe(observer: Observer) -> Callable[[], None]:
    """`observer` is called with every statement sent here; answers how to stop it."""
    _observers.append(observer)
    return lambda: _observers.remove(observer)


async def driver(session: AsyncSession | AsyncConnection) -> Connection:
    """The asyncpg connection of the session's transaction, begun if it was not yet."""
    connection = await session.connection() if isinstance(session, AsyncSession) else session
    adapted: Any = (await connection.get_raw_connection()).dbapi_connection
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement; a statement
    # sent around it must not run before (it would autocommit on its own).
    if adapted._transaction is None:
        await adapted._start_transaction()
    driver_connection: Connection = adapted._connection
    return driver_connection


def _told(sql: str) -> None:
    for observer in _observers:
        observer(sql)


async def fetch(session: AsyncSession | AsyncConnection, sql: str, *args: Any) -> list[Record]:
    connection = await driver(session)
    _told(sql)
    rows: list[Record] = await connection.fetch(sql, *args)
    return rows


async def fetchrow(session: AsyncSession | AsyncConnection, sql: str, *args: Any) -> Record | None:
    connection = await driver(session)
    _told(sql)
    row: Record | None = await connection.fetchrow(sql, *args)
    return row


async def fetchval(session: AsyncSession | AsyncConnection, sql: str, *args: Any) -> Any:
    connection = await driver(session)
    _told(sql)
    return await connection.fetchval(sql, *args)


async def execute(session: AsyncSession | AsyncConnection, sql: str, *args: Any) -> str:
    connection = await driver(session)
    _told(sql)
    status: str = await connection.execute(sql, *args)
    return status
