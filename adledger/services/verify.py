"""Every ledger invariant of DESIGN §3: over the whole ledger, or from the last clean run's
checkpoint, reading only the postings written since (store/ledger_checks.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.errors import InvariantBroken
from adledger.domain.months import boundaries_between
from adledger.store import closing_checks
from adledger.store import ledger_checks as checks
from adledger.store.ledger import Violation

# (what was read: a month or "since"; stretches done; stretches in all; postings so far)
Progress = Callable[[str, int, int, int], None]
Stretch = tuple[datetime | None, datetime | None]


@dataclass(frozen=True, slots=True)
class Verification:
    violations: list[Violation]
    full: bool
    since: datetime | None
    until: datetime
    postings_read: int
    # What the checked window moved, recorded by `record_checkpoint` (clean runs only).
    window: checks.Moved = field(repr=False)
    follows: checks.Checkpoint | None = None
    recorded: bool = False
    months: list[date] = field(default_factory=list)
    """The closed months whose closings this run checked against their postings."""


async def verify_ledger(session: AsyncSession) -> list[Violation]:
    """The whole ledger as this snapshot sees it; records nothing."""
    await _one_snapshot(session)
    window, violations = await _read(session, await _stretches(session, None, None), None)
    violations += checks.unbalanced_currencies(window)
    violations += (await _closed_months(session, full=True))[1]
    return violations + await _hold_against(session, window, recorded=False)


async def settled_horizon(session: AsyncSession) -> datetime:
    """Read it in its own transaction, before `verify_since_checkpoint`'s."""
    return await checks.settled_horizon(session)


async def verify_since_checkpoint(
    session: AsyncSession,
    horizon: datetime,
    *,
    full: bool = False,
    progress: Progress | None = None,
) -> Verification:
    """Check what was written since the last clean run (everything when there is none,
    or when `full`); a clean run may then `record_checkpoint` at `horizon`.

    `horizon` comes from `ledger_checks.settled_horizon`, read in an earlier transaction
    than this one (see there): every posting before it is in this snapshot."""
    await _one_snapshot(session)
    latest = await checks.latest_checkpoint(session)
    start = None if full or latest is None else latest.until
    until = horizon if start is None else max(horizon, start)
    window, found = await _read(session, await _stretches(session, start, until), progress)
    tail, tail_found = await _read(session, [(until, None)], None)
    since_checkpoint = checks.Moved()
    since_checkpoint.add(window)
    since_checkpoint.add(tail)
    violations = found + tail_found + checks.unbalanced_currencies(window)
    violations += await _hold_against(session, since_checkpoint, recorded=start is not None)
    months, month_violations = await _closed_months(session, full=start is None)
    return Verification(
        violations + month_violations,
        start is None,
        start,
        until,
        since_checkpoint.postings,
        window,
        latest,
        months=months,
    )


async def record_checkpoint(session: AsyncSession, verification: Verification) -> Verification:
    """A clean run's checkpoint: the next run starts from its `until`."""
    if verification.violations:
        raise InvariantBroken("only a clean run moves the checkpoint")
    await checks.record_checkpoint(
        session,
        follows=verification.follows,
        full=verification.full,
        until=verification.until,
        window=verification.window,
    )
    await closing_checks.mark_verified(session, verification.months, clock.now())
    return replace(verification, recorded=True)


async def _closed_months(
    session: AsyncSession, *, full: bool
) -> tuple[list[date], list[Violation]]:
    """Every closed month's closings against its postings (incremental runs: those no clean
    run checked yet; a closed month never changes)."""
    months = await closing_checks.months_to_verify(session, full=full)
    violations = []
    for month in months:
        violations += await closing_checks.month_violations(session, month)
    return months, violations


async def _one_snapshot(session: AsyncSession) -> None:
    """Every check sees one snapshot: under READ COMMITTED a transfer committed between two
    checks could make a sound ledger look broken. (A session already inside a transaction
    keeps the isolation it began with.)"""
    if not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def _stretches(
    session: AsyncSession, start: datetime | None, until: datetime | None
) -> list[Stretch]:
    """[start, until) cut at month starts, so a long check reports as it goes."""
    oldest, newest = await checks.posting_span(session, start)
    if oldest is None:
        return [(start, until)]
    last = newest if until is None else min(newest, until)
    cuts: list[datetime | None] = [start, *boundaries_between(oldest, last), until]
    return list(itertools.pairwise(cuts))


async def _read(
    session: AsyncSession, stretches: list[Stretch], progress: Progress | None
) -> tuple[checks.Moved, list[Violation]]:
    total, violations = checks.Moved(), []
    for done, (lo, hi) in enumerate(stretches, start=1):
        moved, unbalanced = await checks.moved_between(session, lo, hi)
        total.add(moved)
        violations += unbalanced
        if progress is not None:
            progress(_label(hi), done, len(stretches), total.postings)
    return total, violations


def _label(hi: datetime | None) -> str:
    return "up to now" if hi is None else f"up to {hi:%Y-%m-%d %H:%M}"


async def _hold_against(
    session: AsyncSession, since_checkpoint: checks.Moved, *, recorded: bool
) -> list[Violation]:
    """The checks of current state: cached balances, floors, receivables, and every
    campaign's conservation."""
    violations = await checks.stale_cached_balances(session, since_checkpoint, recorded)
    violations += await checks.negative_customer_buckets(session)
    violations += await checks.receivables_owed(session)
    violations += await checks.cached_platform_balances(session)
    violations += await checks.unconserved_campaigns(session, since_checkpoint, recorded)
    return violations
