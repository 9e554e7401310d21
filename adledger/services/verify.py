"""Every ledger invariant of DESIGN §3, checked over the whole database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store import ledger as repo
from adledger.store.ledger import Violation


async def verify_ledger(session: AsyncSession) -> list[Violation]:
    violations: list[Violation] = []
    for check in (
        repo.unbalanced_entries,
        repo.stale_cached_balances,
        repo.negative_customer_buckets,
        repo.unbalanced_total,
    ):
        violations.extend(await check(session))
    return violations
