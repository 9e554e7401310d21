"""Monthly partitions created ahead of the rows that will need them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.months import month_of, months_from
from adledger.store.partitions import PartitionReport, ensure_months

__all__ = ["MONTHS_AHEAD", "PartitionReport", "create_partitions"]

# This month and the next three: a daily job that stops for weeks still leaves months of
# partitions, and rows beyond them land in the default partition rather than fail.
MONTHS_AHEAD = 3


async def create_partitions(session: AsyncSession, now: datetime) -> PartitionReport:
    return await ensure_months(session, months_from(month_of(now), MONTHS_AHEAD + 1))
