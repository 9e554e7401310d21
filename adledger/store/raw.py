"""Hot-path statements on the session's own asyncpg connection, inside its transaction.

A statement through the ORM session costs about 0.25 ms of CPU in this process before the
database sees it (compile-cache lookup, parameter processing, result and identity-map
bookkeeping, a greenlet switch), several times what asyncpg's prepared statement costs
(issue 28's profile: SQLAlchemy and asyncpg were 55 % of a `transferBalance`). The
statements a money mutation runs on every request go through here instead: plain SQL with
`$n` parameters, prepared once per connection by asyncpg's statement cache, answered as
asyncpg Records.

Same transaction, same connection: the session's (its BEGIN is sent first when the session
has not started one yet; an AUTOCOMMIT connection stays in autocommit). Nothing is flushed
first, as the ORM's own statements flush nothing first (sessions do not autoflush:
store/db.py): changes the session holds reach the database when their service flushes or
the edge commits, in the order (and with the row locks) they always did.
Each statement is told to the observers (`observe`), as
SQLAlchemy's `before_cursor_execute` tells its listeners, so the test suite's statement
counts see these too. A session hook (before its commit, where only the synchronous
Session is at hand, inside SQLAlchemy's greenlet; or a function given to `run_sync`) runs
them with `fetch_sync`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncpg import Connection, Record
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only


class Row(Record):  # type: ignore[misc]  # asyncpg ships no types
    """A Record whose columns read as attributes too (`row.id`), as SQLAlchemy's rows do,
    so a repository can move a statement here without changing its callers."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# Told each statement and the isolation level it runs under ("AUTOCOMMIT", or None for
# the engine's default), as SQLAlchemy's execution options name it.
Observer = Callable[[str, str | None], None]
_observers: list[Observer] = []


def observe(observer: Observer) -> Callable[[], None]:
    """`observer` is told every statement sent here; answers how to stop telling it."""
    _observers.append(observer)
    return lambda: _observers.remove(observer)


async def driver(session: AsyncSession | AsyncConnection) -> Connection:
    """The asyncpg connection of the session's transaction, begun if it was not yet."""
    return (await _adapted(session))._connection


async def _adapted(session: AsyncSession | AsyncConnection) -> Any:
    """SQLAlchemy's adapter around the asyncpg connection, its transaction begun."""
    if not isinstance(session, AsyncSession):
        return await _begun((await session.get_raw_connection()).dbapi_connection)
    # Asking the session for its connection is a greenlet round of its own: kept for the
    # rest of the transaction (a commit or rollback ends it; the next one asks again).
    transaction = session.sync_session.get_transaction()
    kept = session.info.get(_KEPT)
    if transaction is not None and kept is not None and kept[0] is transaction:
        return kept[1]
    connection = await session.connection()
    adapted = await _begun((await connection.get_raw_connection()).dbapi_connection)
    session.info[_KEPT] = (session.sync_session.get_transaction(), adapted)
    return adapted


_KEPT = "adledger.raw.connection"


async def _begun(adapted: Any) -> Any:
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement; a statement
    # sent around it must not run before (it would autocommit on its own).
    if adapted._transaction is None:
        await adapted._start_transaction()
    return adapted


async def _told(session: AsyncSession | AsyncConnection, sql: str) -> Connection:
    """The connection to send `sql` on, once the observers know of it."""
    adapted = await _adapted(session)
    if _observers:
        level = "AUTOCOMMIT" if adapted.isolation_level == "autocommit" else None
        for observer in _observers:
            observer(sql, level)
    return adapted._connection


async def fetch(session: AsyncSession | AsyncConnection, sql: str, *args: Any) -> list[Row]:
    connection = await _told(session, sql)
    rows: list[Row] = await connection.fetch(sql, *args, record_class=Row)
    return rows


async def fetchrow(session: AsyncSession | AsyncConnection, sql: str, *args: Any) -> Row | None:
    connection = await _told(session, sql)
    row: Row | None = await connection.fetchrow(sql, *args, record_class=Row)
    return row


async def fetchval(session: AsyncSession | AsyncConnection, sql: str, *args: Any) -> Any:
    connection = await _told(session, sql)
    return await connection.fetchval(sql, *args)


async def execute(session: AsyncSession | AsyncConnection, sql: str, *args: Any) -> str:
    connection = await _told(session, sql)
    status: str = await connection.execute(sql, *args)
    return status


def fetch_sync(session: Session, sql: str, *args: Any) -> list[Row]:
    """`fetch` from synchronous code the session runs (a before-commit listener, a function
    given to `AsyncSession.run_sync`): on the transaction's connection, awaited through
    SQLAlchemy's greenlet."""
    adapted = session.connection().connection.dbapi_connection
    if adapted is None:
        raise LookupError("the session's connection is closed")
    if adapted._transaction is None:  # as `_begun`: never a statement outside it
        await_only(adapted._start_transaction())
    for observer in _observers:
        observer(sql, None)
    rows: list[Row] = await_only(adapted._connection.fetch(sql, *args, record_class=Row))
    return rows
