"""issue-invoices: installments whose date has come are issued and charged to the saved
card, declined ones are charged again when their retry is due, and provider invoices for
amounts since reduced are voided there. Safe twice and on two workers at the same
instant: each charge is claimed in its own transaction first (card_charges.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from adledger import clock
from adledger.jobs.billing import tools_of
from adledger.jobs.ledger import Ctx
from adledger.jobs.reports import job_log_level
from adledger.services import effects

log = logging.getLogger(__name__)

# Invoices looked at per run; the next run takes the rest.
BATCH = 200


@dataclass
class ChargeReport:
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def did_something(self) -> bool:
        return any(v for k, v in self.outcomes.items() if k != "not due")

    def __str__(self) -> str:
        shown = {k: v for k, v in sorted(self.outcomes.items()) if k != "not due" and v}
        if not shown:
            return "no invoices due"
        return ", ".join(f"{count} {what}" for what, count in shown.items())


async def issue_invoices_job(ctx: Ctx, now: datetime) -> ChargeReport:
    tools = tools_of(ctx)
    report = ChargeReport()
    report.outcomes.update(await effects.charge_due_installments(tools, now, BATCH))
    for what, count in (await effects.void_reduced_invoices(tools, BATCH)).items():
        report.outcomes[f"superseded {what}"] = count
    level = job_log_level(report.did_something)
    log.log(level, "issue-invoices at %s: %s", now.isoformat(), report)
    return report


async def issue_invoices_cron(ctx: Ctx) -> ChargeReport:
    return await issue_invoices_job(ctx, clock.now())
