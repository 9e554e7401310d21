"""One test database, migrated once per run; each database test starts from empty tables."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from adledger import clock
from adledger.store import locks, raw
from adledger.store.db import make_engine, make_sessionmaker
from adledger.store.migrate import upgrade
from tests import stack

if TYPE_CHECKING:
    from tests.helpers import TimeTravel

TEST_DATABASE = os.environ.get("TEST_DATABASE_NAME", "adledger_test")
# `ADLEDGER_NOW=2026-12-31T23:30:00Z make test` runs the suite at that instant: the one
# clock starts there and ticks (adledger/clock.py pinned it when it was imported, so the
# processes the tests start read the same clock). A bad setting stops the run here.
clock.check()
# The tests take no real payments: they choose the sandbox explicitly, as `adledger dev`
# does; without this (or Stripe keys) the app refuses to start.
os.environ["PAYMENT_PROVIDER"] = "sandbox"
# The lock-order guard (adledger/store/locks.py) is on for the whole suite, in this process
# and in the processes the tests start: a lock taken out of the order fails the test.
os.environ["LOCK_ORDER_CHECK"] = "1"
locks.configure(True)
# Webhook receivers in the tests listen on 127.0.0.1 over http, as `adledger dev` allows;
# the tests of the production rules pass allow_private=False themselves.
os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "1"


@pytest.fixture
def time_travel() -> TimeTravel:
    """Moves the one clock within a test (put back after it by `_clock_put_back`)."""
    from tests.helpers import TimeTravel

    return TimeTravel()


@pytest.fixture(autouse=True)
def _clock_put_back() -> Iterator[None]:
    """Whatever a test did to the clock, the next one starts on the run's setting."""
    setting = clock.setting()
    yield
    if clock.setting() != setting:
        clock.restore(setting)


@pytest.fixture(autouse=True)
def _logging_put_back() -> Iterator[None]:
    """A command a test runs sets up logging for its process (the root level, its
    handler, uvicorn's access log): the next test starts with the logging it found."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    access = logging.getLogger("uvicorn.access")
    access_disabled = access.disabled
    yield
    root.setLevel(level)
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    access.disabled = access_disabled


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str, str]]:
    admin_url, embedded_pg = stack.postgres_admin_url()
    redis_url, embedded_redis = stack.redis_url()
    database_url = make_url(admin_url).set(database=TEST_DATABASE).render_as_string(False)
    try:
        yield admin_url, database_url, redis_url
    finally:
        if embedded_redis:
            embedded_redis.stop()
        if embedded_pg:
            embedded_pg.stop()


@pytest.fixture(scope="session")
async def database_url(servers: tuple[str, str, str]) -> str:
    admin_url, url, _ = servers
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{TEST_DATABASE}"'))
    await admin.dispose()
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture(scope="session")
def redis_url(servers: tuple[str, str, str]) -> str:
    return servers[2]


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def __call__(self, _conn, _cursor, statement, _params, _context, _many) -> None:
        self.count += 1
        self.statements.append(statement)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=20, max_overflow=40)
    yield engine
    await engine.dispose()


@pytest.fixture
def statements() -> Iterator[StatementCounter]:
    """Counts SQL statements of every engine, the app's own included."""
    counter = StatementCounter()
    event.listen(Engine, "before_cursor_execute", counter)
    stop_raw = raw.observe(lambda sql, _level: counter(None, None, sql, None, None, False))
    yield counter
    stop_raw()
    event.remove(Engine, "before_cursor_execute", counter)


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture
async def db(engine: AsyncEngine, redis_url: str) -> AsyncIterator[None]:
    """Empty tables (and an empty Redis test database) before the test."""
    await stack.empty_everything(engine, redis_url)
    yield
    await _assert_ledger_invariants(engine)


async def _assert_ledger_invariants(engine: AsyncEngine) -> None:
    """Every database test ends with what `adledger verify-ledger` checks."""
    from adledger.services.verify import verify_ledger

    async with make_sessionmaker(engine)() as session:
        assert await verify_ledger(session) == []


class _KeptEngine(AsyncEngine):
    """The engine an app of the `app` fixture makes, kept for the next test's app: the
    lifespan's dispose leaves its pool open. A fresh engine per test cost ~60 ms a test
    (new connections, statements prepared and SQL compiled again); the app is still
    built afresh (schema, provider, caches, Redis), and the tables are emptied."""

    async def dispose(self, close: bool = True) -> None:
        return None


@pytest.fixture(scope="session")
async def _app_engines() -> AsyncIterator[dict[tuple[str, int, int, bool], AsyncEngine]]:
    engines: dict[tuple[str, int, int, bool], AsyncEngine] = {}
    yield engines
    for engine in engines.values():
        await AsyncEngine(engine.sync_engine).dispose()


@pytest.fixture
async def app(
    db: None,
    database_url: str,
    redis_url: str,
    _app_engines: dict[tuple[str, int, int, bool], AsyncEngine],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[object]:
    from adledger.app import asgi
    from adledger.app.settings import Settings

    def kept_engine(
        url: str, *, pool_size: int = 10, max_overflow: int = 20, generic_plans: bool = False
    ) -> AsyncEngine:
        key = (url, pool_size, max_overflow, generic_plans)
        if key not in _app_engines:
            engine = make_engine(
                url, pool_size=pool_size, max_overflow=max_overflow, generic_plans=generic_plans
            )
            _app_engines[key] = _KeptEngine(engine.sync_engine)
        return _app_engines[key]

    monkeypatch.setattr(asgi, "make_engine", kept_engine)
    application = asgi.create_app(Settings(database_url=database_url, redis_url=redis_url))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(app: object) -> AsyncIterator[object]:
    import httpx

    from tests.helpers import Api

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client)


@pytest.fixture
async def users(sessions: async_sessionmaker[AsyncSession], db: None) -> object:
    from tests.helpers import UserFactory

    return UserFactory(sessions)
