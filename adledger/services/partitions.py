"""Monthly partitions created ahead of the rows that will need them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.events import cutoff, months_to_drop
from adledger.domain.months import month_of, month_start, months_from, next_month
from adledger.store import webhook_deliveries
from adledger.store.partitions import (
    PARTITIONED,
    PartitionReport,
    drop_month,
    ensure_month,
    months_of,
    partition_name,
)

__all__ = [
    "MONTHS_AHEAD",
    "PartitionReport",
    "create_partition",
    "drop_event_month",
    "event_months_to_drop",
    "partition_name",
    "partitions_due",
]

EVENTS = "events"

# This month and the next three: a daily job that stops for weeks still leaves months of
# partitions, and rows beyond them land in the default partition rather than fail.
MONTHS_AHEAD = 3


def partitions_due(now: datetime) -> list[tuple[str, date, str]]:
    """(table, month, partition name) of every partition that should exist at `now`."""
    months = months_from(month_of(now), MONTHS_AHEAD + 1)
    return [
        (table, month, partition_name(table, month)) for table in PARTITIONED for month in months
    ]


async def create_partition(session: AsyncSession, table: str, month: date) -> str:
    """One partition, one transaction: "created", "present" or "blocked"."""
    return await ensure_month(session, table, month)


async def event_months_to_drop(
    session: AsyncSession, now: datetime, retention_days: int
) -> list[date]:
    """The months of partner events lying entirely before the retention's cutoff."""
    return months_to_drop(await months_of(session, EVENTS), cutoff(now, retention_days))


async def drop_event_month(session: AsyncSession, month: date) -> int:
    """The month's events dropped, and the webhook messages of those events (their
    attempts cascade): nothing is left to deliver or show of an event that is gone. One
    transaction: if the drop gives up (its lock not granted), the messages stay too. The
    messages go after the drop, under its lock on `events`, so a queueing pass cannot
    add one for the month between the two. Answers how many messages went."""
    await drop_month(session, EVENTS, month)
    return await webhook_deliveries.delete_messages_between(
        session, month_start(month), month_start(next_month(month))
    )
