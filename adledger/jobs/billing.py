"""Billing jobs: subscription renewals, invoices the provider has not confirmed yet, and
webhook events whose processing failed. Each is safe to run twice or on two workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adledger.jobs.ledger import Ctx
from adledger.services import subscriptions
from adledger.services.invoices import issue_invoice, issue_pending, provider_key
from adledger.services.transact import Transact
from adledger.services.webhooks import retry_failed

# A request issues its own invoice right after its commit; the job leaves it that long.
ISSUE_GRACE = timedelta(minutes=2)


def _transact(ctx: Ctx) -> Transact:
    """Set up by the worker's startup: each call one committed transaction."""
    transact: Transact = ctx["transact"]
    return transact


async def renew_subscriptions_job(ctx: Ctx, now: datetime) -> int:
    """Bill each period that ended by `now`; returns how many invoices went to the provider."""
    transact = _transact(ctx)
    to_issue = await transact(lambda s: subscriptions.renew_due(s, ctx["billing"], now))
    for invoice_id in to_issue:
        await issue_invoice(transact, ctx["provider"], invoice_id, provider_key(invoice_id))
    return len(to_issue)


async def issue_pending_invoices_job(ctx: Ctx, now: datetime) -> int:
    return await issue_pending(_transact(ctx), ctx["provider"], now - ISSUE_GRACE)


async def retry_webhook_events_job(ctx: Ctx, now: datetime) -> dict[str, int]:
    return await retry_failed(_transact(ctx), ctx["provider"], now)


async def renew_subscriptions_cron(ctx: Ctx) -> int:
    return await renew_subscriptions_job(ctx, datetime.now(UTC))


async def issue_pending_invoices_cron(ctx: Ctx) -> int:
    return await issue_pending_invoices_job(ctx, datetime.now(UTC))


async def retry_webhook_events_cron(ctx: Ctx) -> dict[str, int]:
    return await retry_webhook_events_job(ctx, datetime.now(UTC))
