"""The arq worker: queued jobs, cron jobs, and the registry `adledger jobs run` uses.

Every job takes its clock (`now`) as an argument, so a job can be replayed for any instant
and tests need no frozen time; the cron entries only supply the current time. Jobs are
idempotent by construction (see DESIGN §10), so arq's at-least-once delivery is safe.

This module is wiring as much as jobs: it reads the settings and builds the engine, the
one place below `app/` that does, because arq imports WorkerSettings by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from arq import cron, func
from arq.connections import RedisSettings
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.app.settings import Settings, get_settings
from adledger.services.verify import verify_ledger
from adledger.store.db import make_engine, make_sessionmaker
from adledger.store.ledger import Violation

log = logging.getLogger(__name__)

T = TypeVar("T")
Ctx = dict[str, Any]
JobBody = Callable[[AsyncSession, datetime], Awaitable[T]]
Job = Callable[[Ctx, datetime], Awaitable[object]]


async def startup(ctx: Ctx) -> None:
    """One engine per worker process. `adledger dev` hands its settings in through ctx
    (its database may be an embedded one the environment knows nothing about)."""
    settings: Settings = ctx.setdefault("settings", get_settings())
    if not settings.database_url:
        raise RuntimeError("the worker needs DATABASE_URL")
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    ctx["engine"] = engine
    ctx["sessions"] = make_sessionmaker(engine)


async def shutdown(ctx: Ctx) -> None:
    engine = ctx.pop("engine", None)
    if engine is not None:
        await engine.dispose()


async def in_transaction(ctx: Ctx, body: JobBody[T], now: datetime) -> T:
    """One session per job run, committed only if the body succeeds: services never
    commit, and a failed run must leave nothing half-done for its retry."""
    async with ctx["sessions"]() as session:
        result = await body(session, now)
        await session.commit()
    return result


async def check_ledger(session: AsyncSession) -> list[Violation]:
    """Run every check in one snapshot: under READ COMMITTED a transfer committed between
    two checks could make a sound ledger look broken."""
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    return await verify_ledger(session)


async def verify_ledger_job(ctx: Ctx, now: datetime) -> int:
    """Log every broken ledger invariant; the count is the job's result."""
    violations = await in_transaction(ctx, _verify, now)
    for violation in violations:
        log.error("ledger check at %s: %s: %s", now.isoformat(), violation.rule, violation.detail)
    if not violations:
        log.info("ledger check at %s: every invariant holds", now.isoformat())
    return len(violations)


async def _verify(session: AsyncSession, _now: datetime) -> list[Violation]:
    # The ledger is append-only and every check covers all of it, so the clock only
    # labels the run.
    return await check_ledger(session)


async def verify_ledger_cron(ctx: Ctx) -> int:
    return await verify_ledger_job(ctx, datetime.now(UTC))


# `adledger jobs run NAME --now ISO` runs these directly, without Redis.
JOBS: dict[str, Job] = {"verify-ledger": verify_ledger_job}


def redis_settings_for(url: str | None) -> RedisSettings:
    return RedisSettings.from_dsn(url) if url else RedisSettings()


class WorkerSettings:
    """Read by `adledger worker` (and by arq's own CLI, hence class attributes)."""

    functions = [func(verify_ledger_job, name="verify_ledger")]
    cron_jobs = [cron(verify_ledger_cron, name="verify_ledger_hourly", minute=0, second=0)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings_for(get_settings().redis_url)
    timezone = UTC
