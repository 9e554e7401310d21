"""Every ledger invariant of DESIGN §3, checked over the whole database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store import campaigns
from adledger.store import ledger as repo
from adledger.store.ledger import Violation


async def verify_ledger(session: AsyncSession) -> list[Violation]:
    """Every check sees one snapshot: under READ COMMITTED a transfer committed between two
    checks could make a sound ledger look broken. (A session already inside a transaction
    keeps the isolation it began with.)"""
    if not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    violations: list[Violation] = []
    for check in (
        repo.unbalanced_entries,
        repo.stale_cached_balances,
        repo.negative_customer_buckets,
        repo.receivables_owed,
        repo.unbalanced_total,
        repo.cached_platform_balances,
        campaigns.unexplained_campaigns,
    ):
        violations.extend(await check(session))
    return violations
