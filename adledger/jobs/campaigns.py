"""Campaign jobs (DESIGN §6, §10): start-campaigns, complete-campaigns and credit-sweep.
Each takes one campaign per transaction; a step that fails rolls back that campaign only
and the next run takes it again. Safe on two workers and after a kill -9: every step
locks its campaign and checks that it is still due."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.jobs.billing import tools_of, transact_of
from adledger.jobs.ledger import Ctx
from adledger.jobs.reports import CampaignReport, job_log_level
from adledger.services import campaign_jobs, effects
from adledger.services.campaign_jobs import Step

log = logging.getLogger(__name__)

# Campaigns looked at per run; the next run takes the rest.
BATCH = 500

Candidates = Callable[[AsyncSession], Awaitable[list[int]]]
StepOf = Callable[[AsyncSession, int], Awaitable[Step]]


async def _each(ctx: Ctx, name: str, candidates: Candidates, step: StepOf) -> CampaignReport:
    transact = transact_of(ctx)
    report = CampaignReport(name)
    for campaign_id in await transact(candidates):
        try:
            outcome = await transact(lambda s, cid=campaign_id: step(s, cid))  # type: ignore[misc]
        except Exception:
            log.exception("%s: campaign %s failed; the next run retries it", name, campaign_id)
            report.count("failed")
            continue
        report.count(outcome.value)
    if report.steps.get(Step.EXPIRED.value):
        await effects.void_superseded_shortfalls(tools_of(ctx))
    log.log(job_log_level(report.did_something), "%s: %s", name, report)
    return report


async def start_campaigns_job(ctx: Ctx, now: datetime) -> CampaignReport:
    return await _each(
        ctx,
        "start-campaigns",
        lambda s: campaign_jobs.due_to_start(s, now, BATCH),
        lambda s, cid: campaign_jobs.start_one(s, cid, now),
    )


async def complete_campaigns_job(ctx: Ctx, now: datetime) -> CampaignReport:
    return await _each(
        ctx,
        "complete-campaigns",
        lambda s: campaign_jobs.due_to_complete(s, now, BATCH),
        lambda s, cid: campaign_jobs.complete_one(s, cid, now),
    )


async def credit_sweep_job(ctx: Ctx, now: datetime) -> CampaignReport:
    billing = ctx["billing"]
    return await _each(
        ctx,
        "credit-sweep",
        lambda s: campaign_jobs.due_to_settle(s, now, billing, BATCH),
        lambda s, cid: campaign_jobs.settle_one(s, cid, billing, now),
    )


async def start_campaigns_cron(ctx: Ctx) -> CampaignReport:
    return await start_campaigns_job(ctx, clock.now())


async def complete_campaigns_cron(ctx: Ctx) -> CampaignReport:
    return await complete_campaigns_job(ctx, clock.now())


async def credit_sweep_cron(ctx: Ctx) -> CampaignReport:
    return await credit_sweep_job(ctx, clock.now())
