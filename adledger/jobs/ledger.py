"""Jobs: each takes its clock (`now`) as an argument, so it can be replayed for any instant
and tests need no frozen time, and each is idempotent (DESIGN §10), so arq's at-least-once
delivery is safe. The worker process (`adledger.app.worker`) hands in `ctx["sessions"]`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.jobs.reports import VerifyReport
from adledger.services.verify import verify_ledger
from adledger.store.ledger import Violation

log = logging.getLogger(__name__)

T = TypeVar("T")
Ctx = dict[str, Any]
JobBody = Callable[[AsyncSession, datetime], Awaitable[T]]
Job = Callable[[Ctx, datetime], Awaitable[object]]


async def in_transaction(ctx: Ctx, body: JobBody[T], now: datetime) -> T:
    """One session per job run, committed only if the body succeeds: services never
    commit, and a failed run must leave nothing half-done for its retry."""
    async with ctx["sessions"]() as session:
        result = await body(session, now)
        await session.commit()
    return result


async def verify_ledger_job(ctx: Ctx, now: datetime) -> VerifyReport:
    """Log every broken ledger invariant; the report counts them."""
    violations = await in_transaction(ctx, _verify, now)
    for violation in violations:
        log.error("ledger check at %s: %s: %s", now.isoformat(), violation.rule, violation.detail)
    if not violations:
        log.info("ledger check at %s: every invariant holds", now.isoformat())
    return VerifyReport(len(violations))


async def _verify(session: AsyncSession, _now: datetime) -> list[Violation]:
    # The ledger is append-only and every check covers all of it, so the clock only
    # labels the run.
    return await verify_ledger(session)


async def verify_ledger_cron(ctx: Ctx) -> VerifyReport:
    return await verify_ledger_job(ctx, datetime.now(UTC))
