"""Monthly partitions of the tables that only grow: ledger postings (by `created_at`),
spend events (by `recorded_at`) and partner events (by `created_at`; their old months are
dropped, `drop_month`).

Each table also has a DEFAULT partition, so a row whose month has no partition yet (a job
that did not run, a test clock years ahead) is still written: money never waits on DDL.
A month is added with CREATE TABLE ... LIKE and ATTACH PARTITION, which takes only a SHARE
UPDATE EXCLUSIVE lock on the parent, so writers keep writing while it runs. A month
whose rows already sit in the default partition is not attached (PostgreSQL would refuse)
but reported, for an operator to move by hand (docs/operations/scaling.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.months import month_start, next_month

# Table -> the column it is partitioned by.
PARTITIONED = {
    "ledger_postings": "created_at",
    "spend_events": "recorded_at",
    "events": "created_at",
}


def partition_name(table: str, month: date) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def default_partition_sql(table: str) -> str:
    return f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT"


def attach_month_sql(table: str, month: date) -> list[str]:
    """The statements adding `month` to `table` (names come from PARTITIONED, not input)."""
    name = partition_name(table, month)
    start, end = month_start(month).isoformat(), month_start(next_month(month)).isoformat()
    return [
        f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')",
    ]


@dataclass
class PartitionReport:
    created: list[str] = field(default_factory=list)
    present: int = 0
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def add(self, name: str, outcome: str) -> None:
        if outcome == "present":
            self.present += 1
        else:
            {"created": self.created, "blocked": self.blocked, "failed": self.failed}[
                outcome
            ].append(name)

    def __str__(self) -> str:
        text_ = f"{len(self.created)} partition(s) created, {self.present} already there"
        if self.created:
            text_ += f" ({', '.join(self.created)})"
        if self.blocked:
            text_ += "; not created, rows of the month in the default partition: " + ", ".join(
                self.blocked
            )
        if self.failed:
            text_ += "; failed (see the log; the next run tries again): " + ", ".join(self.failed)
        return text_


async def ensure_months(session: AsyncSession, months: Sequence[date]) -> PartitionReport:
    """Every partitioned table gets a partition for each of `months` it lacks (in the
    caller's one transaction)."""
    report = PartitionReport()
    for table in PARTITIONED:
        for month in months:
            report.add(partition_name(table, month), await ensure_month(session, table, month))
    return report


async def ensure_month(session: AsyncSession, table: str, month: date) -> str:
    """`month`'s partition of `table`: "created", "present", or "blocked" (its rows are in
    the default partition)."""
    # A writer holding the parent must not keep this waiting long, nor queue others behind.
    await session.execute(text("SET LOCAL lock_timeout = '10s'"))
    name = partition_name(table, month)
    if await session.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}):
        return "present"
    if await _default_holds(session, table, month):
        return "blocked"
    for statement in attach_month_sql(table, month):
        await session.execute(text(statement))
    return "created"


async def _default_holds(session: AsyncSession, table: str, month: date) -> bool:
    column = PARTITIONED[table]
    held = await session.scalar(
        text(
            f"SELECT EXISTS (SELECT 1 FROM {table}_default WHERE {column} >= :s AND {column} < :e)"
        ),
        {"s": month_start(month), "e": month_start(next_month(month))},
    )
    return bool(held)


async def partitions_of(session: AsyncSession, table: str) -> list[str]:
    """The partitions of `table`, by name."""
    rows = await session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:t AS regclass) ORDER BY c.relname"
        ),
        {"t": table},
    )
    return list(rows)


_MONTH_SUFFIX = re.compile(r"_y([0-9]{4})m([0-9]{2})$")


async def months_of(session: AsyncSession, table: str) -> list[date]:
    """The months `table` has a partition of (the default partition is none)."""
    months = []
    for name in await partitions_of(session, table):
        match = _MONTH_SUFFIX.search(name)
        if match is not None and name == partition_name(table, _month(match)):
            months.append(_month(match))
    return months


def _month(match: re.Match[str]) -> date:
    return date(int(match[1]), int(match[2]), 1)


async def drop_month(session: AsyncSession, table: str, month: date) -> None:
    """`month`'s partition of `table`, detached and dropped with its rows (names come from
    PARTITIONED, not input). Both take the parent's ACCESS EXCLUSIVE lock for a moment:
    a writer holding it makes this give up within 5 s rather than queue every other
    writer behind it (the next run tries again)."""
    await session.execute(text("SET LOCAL lock_timeout = '5s'"))
    name = partition_name(table, month)
    await session.execute(text(f"ALTER TABLE {table} DETACH PARTITION {name}"))
    await session.execute(text(f"DROP TABLE {name}"))
