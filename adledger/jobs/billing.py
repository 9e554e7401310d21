"""Billing jobs: subscription renewals, invoices the provider has not confirmed yet, and
webhook events whose processing failed. Each is safe to run twice or on two workers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from adledger import clock
from adledger.jobs.ledger import Ctx
from adledger.jobs.reports import IssueReport, RenewalReport, RetryReport, job_log_level
from adledger.services import effect_kinds, effects, subscriptions
from adledger.services.subscriptions import Renewal, RenewalOutcome
from adledger.services.transact import Transact
from adledger.services.webhooks import retry_failed

log = logging.getLogger(__name__)

# A request issues its own invoice right after its commit; the job leaves it that long.
ISSUE_GRACE = timedelta(minutes=2)
# Subscriptions looked at per run; the next run takes the rest.
RENEWAL_BATCH = 500


def transact_of(ctx: Ctx) -> Transact:
    """Set up by the worker's startup: each call one committed transaction."""
    transact: Transact = ctx["transact"]
    return transact


def tools_of(ctx: Ctx) -> effects.Tools:
    """What the outbox's runner runs a job's effects with."""
    return effects.Tools(transact_of(ctx), ctx["provider"], ctx["billing"])


async def renew_subscriptions_job(ctx: Ctx, now: datetime) -> RenewalReport:
    """Bill each period that ended by `now`, one subscription per transaction: a failure
    rolls back that renewal only, and the others go on."""
    transact = transact_of(ctx)
    due = await transact(lambda s: subscriptions.due_for_renewal(s, now, RENEWAL_BATCH))
    report = RenewalReport()
    for subscription_id in due:
        outcome = await _renew(ctx, transact, subscription_id, now)
        _count(report, outcome)
        if outcome is not None and outcome.result is Renewal.INVOICED:
            await _issue(ctx, outcome)
    log.log(
        job_log_level(report.did_something),
        "renew-subscriptions at %s: %s",
        now.isoformat(),
        report,
    )
    return report


async def _renew(
    ctx: Ctx, transact: Transact, subscription_id: int, now: datetime
) -> RenewalOutcome | None:
    try:
        return await transact(
            lambda s: subscriptions.renew_one(s, subscription_id, ctx["billing"], now)
        )
    except Exception:
        log.exception("renewing subscription %s failed; the next run retries it", subscription_id)
        return None


def _count(report: RenewalReport, outcome: RenewalOutcome | None) -> None:
    if outcome is None:
        report.failed += 1
    elif outcome.result is Renewal.PAID_FROM_BALANCE:
        report.paid_from_balance += 1
    elif outcome.result is Renewal.INVOICED:
        report.invoiced += 1
    elif outcome.result is Renewal.DEACTIVATED:
        report.deactivated += 1


async def _issue(ctx: Ctx, outcome: RenewalOutcome) -> None:
    """After the renewal's commit; a provider outage leaves it to run-outbox (and to
    issue-pending-invoices)."""
    if outcome.invoice_id is None:
        return
    key = effect_kinds.issue_invoice_key(outcome.invoice_id)  # the renewal declared it
    ran = await effects.run_keys(tools_of(ctx), [key])
    if key in ran and ran[key].error is not None:
        log.warning("invoice %s not issued yet; run-outbox retries", outcome.invoice_id)


async def issue_pending_invoices_job(ctx: Ctx, now: datetime) -> IssueReport:
    """Issue what the provider never confirmed, and void there the shortfall invoices
    nobody needs to pay any more (their campaign was funded otherwise, or canceled)."""
    tools = tools_of(ctx)
    issued, failed = await effects.issue_unissued(tools, now - ISSUE_GRACE)
    voided, void_failed = await effects.void_superseded_shortfalls(tools)
    report = IssueReport(issued, failed, voided, void_failed)
    level = job_log_level(report.did_something)
    log.log(level, "issue-pending-invoices at %s: %s", now.isoformat(), report)
    return report


async def retry_webhook_events_job(ctx: Ctx, now: datetime) -> RetryReport:
    report = RetryReport(await retry_failed(transact_of(ctx), ctx["provider"], now))
    level = job_log_level(report.did_something)
    log.log(level, "retry-webhook-events at %s: %s", now.isoformat(), report)
    return report


async def renew_subscriptions_cron(ctx: Ctx) -> RenewalReport:
    return await renew_subscriptions_job(ctx, clock.now())


async def issue_pending_invoices_cron(ctx: Ctx) -> IssueReport:
    return await issue_pending_invoices_job(ctx, clock.now())


async def retry_webhook_events_cron(ctx: Ctx) -> RetryReport:
    return await retry_webhook_events_job(ctx, clock.now())
