"""run-outbox: effects left undone (the process that committed them died, or the
provider did not answer) are claimed and run, each with backoff after a failure
(services/effects.py). Every few seconds: a crash after a commit delays its invoice by
the outbox's grace and one run, not until some other job happens to find it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from adledger import clock
from adledger.jobs.billing import tools_of
from adledger.jobs.ledger import Ctx
from adledger.jobs.reports import job_log_level
from adledger.services import effects

log = logging.getLogger(__name__)


@dataclass
class OutboxReport:
    done: int = 0
    failed: int = 0

    @property
    def did_something(self) -> bool:
        return bool(self.done or self.failed)

    def __str__(self) -> str:
        if not (self.done or self.failed):
            return "no effects due"
        text = f"ran {self.done} effect{'s' if self.done != 1 else ''}"
        return text + (f", {self.failed} failed (retried with backoff)" if self.failed else "")


async def run_outbox_job(ctx: Ctx, now: datetime) -> OutboxReport:
    counts = await effects.run_due(tools_of(ctx), now)
    report = OutboxReport(counts.get("done", 0), counts.get("failed", 0))
    log.log(job_log_level(report.did_something), "run-outbox at %s: %s", now.isoformat(), report)
    return report


async def run_outbox_cron(ctx: Ctx) -> OutboxReport:
    return await run_outbox_job(ctx, clock.now())
