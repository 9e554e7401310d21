"""prune-events: partner events older than EVENT_RETENTION_DAYS (at least 30) go, a whole
month partition at a time, never a month holding a younger event. Daily; each month is
its own transaction (a month whose table lock is not granted within seconds is left to
the next run)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.events import MIN_RETENTION_DAYS
from adledger.jobs.ledger import Ctx, in_transaction
from adledger.jobs.reports import job_log_level
from adledger.services.partitions import (
    EVENTS,
    drop_event_month,
    event_months_to_drop,
    partition_name,
)

log = logging.getLogger(__name__)


@dataclass
class PruneReport:
    dropped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def did_something(self) -> bool:
        return bool(self.dropped or self.failed)

    def __str__(self) -> str:
        if not self.did_something:
            return "no month of events older than the retention"
        text = f"dropped {len(self.dropped)} month(s) of events"
        text += f" ({', '.join(self.dropped)})" if self.dropped else ""
        if self.failed:
            text += "; not dropped (the next run tries again): " + ", ".join(self.failed)
        return text


async def prune_events_job(ctx: Ctx, now: datetime) -> PruneReport:
    retention = int(ctx.get("event_retention_days", MIN_RETENTION_DAYS))
    months = await in_transaction(ctx, partial(_due, retention), now)
    report = PruneReport()
    for month in months:
        name = partition_name(EVENTS, month)
        try:
            await in_transaction(ctx, partial(_drop, month), now)
        except DBAPIError:
            log.exception("events partition %s not dropped", name)
            report.failed.append(name)
            continue
        report.dropped.append(name)
    log.log(job_log_level(report.did_something), "prune-events at %s: %s", now.isoformat(), report)
    return report


async def _due(retention: int, session: AsyncSession, now: datetime) -> list[date]:
    return await event_months_to_drop(session, now, retention)


async def _drop(month: date, session: AsyncSession, _now: datetime) -> None:
    await drop_event_month(session, month)


async def prune_events_cron(ctx: Ctx) -> PruneReport:
    return await prune_events_job(ctx, clock.now())
