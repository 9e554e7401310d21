"""Engine and session factory. Services receive a session; only the edges commit."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util import await_only

from adledger.domain.errors import InvariantBroken
from adledger.store.locks import RETRIES, LockScopeChanged

T = TypeVar("T")

# Hosting platforms hand out libpq URLs; asyncpg is the only driver we ship.
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "postgresql+asyncpg"})
# libpq query parameters and what asyncpg calls them (None: libpq-only, nothing to pass).
_LIBPQ_PARAMETERS: dict[str, str | None] = {
    "sslmode": "ssl",
    "channel_binding": None,
    "application_name": None,
}
_ASYNCPG_PARAMETERS = frozenset({"host", "port", "user", "password", "ssl", "direct_tls"})


class DatabaseUrlError(ValueError):
    """DATABASE_URL is not a PostgreSQL URL we can connect with."""


def asyncpg_url(raw: str) -> str:
    """The SQLAlchemy asyncpg form of any PostgreSQL URL a platform hands out:
    `postgres://`, `postgresql://` or `postgresql+asyncpg://`, including a unix-socket
    directory in `?host=/path` and libpq's `sslmode`."""
    try:
        url = make_url(raw.strip())
    except ArgumentError as exc:
        raise DatabaseUrlError("DATABASE_URL is not a URL (postgresql://user@host/db)") from exc
    if url.drivername not in _POSTGRES_SCHEMES:
        raise DatabaseUrlError(
            f"DATABASE_URL must start with postgresql:// or postgres://, not {url.drivername}://"
        )
    query = _asyncpg_query(dict(url.query))
    return url.set(drivername="postgresql+asyncpg", query=query).render_as_string(False)


def _asyncpg_query(query: dict[str, str | tuple[str, ...]]) -> dict[str, str | tuple[str, ...]]:
    translated: dict[str, str | tuple[str, ...]] = {}
    for name, value in query.items():
        target = _LIBPQ_PARAMETERS.get(name, name)
        if target is None:
            continue
        if target not in _ASYNCPG_PARAMETERS:
            raise DatabaseUrlError(f"DATABASE_URL has a parameter asyncpg does not take: {name}")
        translated[target] = value
    return translated


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 20, generic_plans: bool = False
) -> AsyncEngine:
    """`generic_plans`: every prepared statement runs the plan made once for any values
    (`plan_cache_mode = force_generic_plan`) instead of being planned again for its values.
    asyncpg prepares every statement, and PostgreSQL keeps planning afresh a statement
    whose generic plan looks costlier than its custom ones, which it always does for
    `id = ANY($1)` (it guesses ten elements): planning a money mutation's joins cost the
    database three times their execution, on every request. The API's statements find
    rows by ids and keys, where one plan serves all values; jobs and commands keep the
    default (their reports and sweeps read ranges, where the values choose the plan)."""
    connect_args = {"server_settings": {"plan_cache_mode": "force_generic_plan"}}
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args=connect_args if generic_plans else {},
    )
    event.listen(engine.sync_engine.pool, "checkout", _ping)
    event.listen(engine.sync_engine.pool, "checkin", _note_return)
    return engine


# A connection back in the pool for less than this answered a moment ago: it is taken
# without a ping (a closed socket is still noticed). Under load connections are reused
# every few milliseconds, and a ping is a round trip on every request.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping(dbapi_connection: Any, entry: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
    """A connection taken from the pool is checked first, as `pool_pre_ping` does, so one
    that PostgreSQL dropped (a restart, a failover) is replaced instead of failing the
    request: the pool retries with a new connection. A closed socket is noticed at no
    cost; a connection idle for `PING_AFTER_IDLE_SECONDS` is pinged, in one round trip
    (a simple-protocol `SELECT 1`, no prepared statement, fine behind PgBouncer).
    `pool_pre_ping` with asyncpg pinged on every checkout, wrapped in BEGIN and ROLLBACK:
    three round trips on every request."""
    driver = entry.driver_connection
    try:
        if driver is None or driver.is_closed():
            raise ConnectionError("the connection is closed")
        returned = entry.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned >= PING_AFTER_IDLE_SECONDS:
            await_only(driver.execute("SELECT 1"))
    except Exception as exc:
        raise DisconnectionError("the pooled connection did not answer") from exc


_RETURNED = "adledger_returned_at"


def _note_return(dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
    entry.info[_RETURNED] = time.monotonic()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after the edge commits; readers that
    # need fresh rows ask for them with populate_existing.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def transaction_runner(
    sessions: async_sessionmaker[AsyncSession],
    after_commit: Callable[[AsyncSession], Awaitable[None]] | None = None,
    before_commit: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> Callable[[Callable[[AsyncSession], Awaitable[T]]], Awaitable[T]]:
    """Each call runs one unit of work in a fresh session and commits it: the edge's way to
    give multi-step work (a write, a provider call, another write) its transactions. Work
    that finds it must lock more than it chose (`LockScopeChanged`) is run again.
    `before_commit` is given it after its work, before the commit (the balance guard);
    `after_commit` once its work is committed (services/effects.py runs what the commit
    declared)."""

    async def transact(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        for attempt in range(1, RETRIES + 1):
            async with sessions() as session:
                try:
                    result = await work(session)
                except LockScopeChanged:
                    if attempt == RETRIES:
                        raise
                    continue  # leaving the session rolls it back: run it again
                if before_commit is not None:
                    await before_commit(session)
                await session.commit()
            if after_commit is not None:
                await after_commit(session)  # closed: its connection is back in the pool
            return result
        raise InvariantBroken("the last attempt returns or raises")

    return transact
