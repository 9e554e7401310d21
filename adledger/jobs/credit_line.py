"""close-credit-line-cycles (also known by its first name, close-monthly-invoices): each
business center's credit-line statement for every cycle that ended (calendar month or 28
days), one center and cycle per transaction, issued at the provider after its
commit (an outbox effect declared with it). Safe twice, on two workers and after a kill -9:
`close_one` locks the center and checks again; a statement the provider did not confirm
is left to run-outbox (and issue-pending-invoices)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from adledger import clock
from adledger.jobs.billing import tools_of, transact_of
from adledger.jobs.ledger import Ctx
from adledger.jobs.reports import job_log_level
from adledger.services import credit_line_statements as statements
from adledger.services import effect_kinds, effects
from adledger.services.transact import Transact

log = logging.getLogger(__name__)

# Center-months looked at per run; the next run takes the rest.
BATCH = 500


@dataclass
class StatementReport:
    opened: int = 0
    not_issued: int = 0
    failed: int = 0

    @property
    def did_something(self) -> bool:
        return bool(self.opened or self.failed)

    def __str__(self) -> str:
        if not (self.opened or self.failed):
            return "no credit-line statements due"
        noun = "statement" if self.opened == 1 else "statements"
        text = f"opened {self.opened} credit-line {noun}"
        if self.not_issued:
            text += f" ({self.not_issued} not issued yet: issue-pending-invoices retries)"
        if self.failed:
            text += f", {self.failed} failed (see the log; the next run retries them)"
        return text


async def close_credit_line_cycles_job(ctx: Ctx, now: datetime) -> StatementReport:
    transact = transact_of(ctx)
    due = await transact(lambda s: statements.due_statements(s, now, BATCH))
    report = StatementReport()
    for center_id, month in due:
        invoice_id = await _close(ctx, transact, (center_id, month), now, report)
        if invoice_id is not None:
            await _issue(ctx, invoice_id, report)
    level = job_log_level(report.did_something)
    log.log(level, "close-credit-line-cycles at %s: %s", now.isoformat(), report)
    return report


async def _close(
    ctx: Ctx, transact: Transact, due: tuple[int, datetime], now: datetime, report: StatementReport
) -> int | None:
    """The statement opened by this run, if it opened one."""
    try:
        opened = await transact(lambda s: statements.close_one(s, *due, ctx["billing"], now))
    except Exception:
        log.exception("statement of center %s for %s failed; the next run retries", *due)
        report.failed += 1
        return None
    if opened is not None:
        report.opened += 1
    return opened


async def _issue(ctx: Ctx, invoice_id: int, report: StatementReport) -> None:
    key = effect_kinds.issue_invoice_key(invoice_id)  # close_one declared it
    ran = await effects.run_keys(tools_of(ctx), [key])
    if key in ran and ran[key].error is not None:
        log.warning("invoice %s not issued yet; run-outbox retries", invoice_id)
        report.not_issued += 1


async def close_credit_line_cycles_cron(ctx: Ctx) -> StatementReport:
    return await close_credit_line_cycles_job(ctx, clock.now())


close_monthly_invoices_job = close_credit_line_cycles_job  # its name before cycles
