"""Jobs: each takes its clock (`now`) as an argument, so it can be replayed for any instant
and tests need no frozen time, and each is idempotent (DESIGN §10), so arq's at-least-once
delivery is safe. The worker process (`adledger.app.worker`) hands in `ctx["sessions"]`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.jobs.reports import ClosingReport, VerifyReport, job_log_level
from adledger.services import balance_guard
from adledger.services.closings import ClosedMonth, close_next_month
from adledger.services.partitions import PartitionReport, create_partition, partitions_due
from adledger.services.verify import (
    Progress,
    Verification,
    record_checkpoint,
    settled_horizon,
    verify_since_checkpoint,
)

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
        await balance_guard.settle(session)
        await session.commit()
    return result


async def verify_ledger_job(ctx: Ctx, now: datetime) -> VerifyReport:
    """Log every broken ledger invariant; the report counts them. It reads the postings
    written since the last clean run (the first run reads them all)."""
    verification = await verify_from_checkpoint(ctx["sessions"])
    for violation in verification.violations:
        log.error("ledger check at %s: %s: %s", now.isoformat(), violation.rule, violation.detail)
    report = VerifyReport(
        len(verification.violations),
        verification.postings_read,
        verification.full,
        verification.recorded,
    )
    if not verification.violations:
        level = job_log_level(report.did_something)
        log.log(level, "ledger check at %s: %s", now.isoformat(), report)
    return report


async def verify_from_checkpoint(
    sessions: Callable[[], AsyncSession], *, full: bool = False, progress: Progress | None = None
) -> Verification:
    """Two transactions: the horizon is read before the snapshot the checks run in (see
    ledger_checks.settled_horizon). The ledger is append-only and the checkpoint says what
    was checked, so the clock only labels the run."""
    async with sessions() as session:
        horizon = await settled_horizon(session)
        await session.rollback()
        verification = await verify_since_checkpoint(session, horizon, full=full, progress=progress)
        if verification.violations:
            return verification
        try:
            recorded = await record_checkpoint(session, verification)
            await session.commit()
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _LOST_RACE:
                raise
            await session.rollback()  # a run from the same checkpoint recorded first
            return verification
    return recorded


# unique_violation (the checkpoint's `follows`), serialization_failure (its sums)
_LOST_RACE = ("23505", "40001")


async def verify_ledger_cron(ctx: Ctx) -> VerifyReport:
    return await verify_ledger_job(ctx, clock.now())


async def create_partitions_job(ctx: Ctx, now: datetime) -> PartitionReport:
    """The month partitions of the growing tables, from `now`'s month to MONTHS_AHEAD on:
    each in its own transaction, so one that cannot take its lock now leaves the others
    made (the next run tries it again)."""
    report = PartitionReport()
    for table, month, name in partitions_due(now):
        try:
            outcome = await in_transaction(ctx, partial(_create, table, month), now)
        except DBAPIError:
            log.exception("partition %s not created", name)
            outcome = "failed"
        report.add(name, outcome)
    level = job_log_level(bool(report.created or report.blocked or report.failed))
    log.log(level, "partitions at %s: %s", now.isoformat(), report)
    return report


async def _create(table: str, month: date, session: AsyncSession, _now: datetime) -> str:
    return await create_partition(session, table, month)


async def create_partitions_cron(ctx: Ctx) -> PartitionReport:
    return await create_partitions_job(ctx, clock.now())


async def close_ledger_months_job(ctx: Ctx, now: datetime) -> ClosingReport:
    """Close every month that ended before the settled horizon, oldest first, one month
    per transaction (the first run on an old ledger closes all its past months)."""
    async with ctx["sessions"]() as session:
        horizon = await settled_horizon(session)
        await session.rollback()
    report = ClosingReport()
    while (month := await in_transaction(ctx, partial(_close_next, horizon), now)) is not None:
        report.months.append(str(month))
    log.log(job_log_level(report.did_something), "months at %s: %s", now.isoformat(), report)
    return report


async def _close_next(
    horizon: datetime, session: AsyncSession, now: datetime
) -> ClosedMonth | None:
    return await close_next_month(session, horizon, now)


async def close_ledger_months_cron(ctx: Ctx) -> ClosingReport:
    return await close_ledger_months_job(ctx, clock.now())
