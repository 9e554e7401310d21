"""roll-budget-periods (DESIGN §7, §10): each ad account whose DAILY or MONTHLY period has
ended starts again from zero, and the campaigns its cap stopped deliver again. One account
per transaction; safe twice or on two workers (each step locks the account and rolls only
what is due)."""

from __future__ import annotations

import logging
from datetime import datetime

from adledger import clock
from adledger.jobs.billing import transact_of
from adledger.jobs.ledger import Ctx
from adledger.jobs.reports import CampaignReport, job_log_level
from adledger.services import budgets
from adledger.store import budgets as budget_repo

log = logging.getLogger(__name__)

BATCH = 500


async def roll_budget_periods_job(ctx: Ctx, now: datetime) -> CampaignReport:
    transact = transact_of(ctx)
    report = CampaignReport("roll-budget-periods")
    for account_id in await transact(lambda s: budget_repo.due_to_roll(s, now, BATCH)):
        try:
            outcome = await transact(
                lambda s, aid=account_id: budgets.roll_one(s, aid, now)  # type: ignore[misc]
            )
        except Exception:
            log.exception(
                "roll-budget-periods: ad account %s failed; the next run retries", account_id
            )
            report.count("failed")
            continue
        report.count("rolled")
        for _ in outcome.restarted_campaign_ids:
            report.count("restarted")
    log.log(job_log_level(report.did_something), "roll-budget-periods: %s", report)
    return report


async def roll_budget_periods_cron(ctx: Ctx) -> CampaignReport:
    return await roll_budget_periods_job(ctx, clock.now())
