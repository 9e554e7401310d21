"""deliver-webhooks: partner webhooks queued, posted, retried with backoff, and their
endpoints disabled after 3 days of failures (services/webhook_delivery.py). Every 5
seconds. Passes may overlap (a slow endpoint keeps one running for up to its share of a
pass; leases and skipped row locks keep each message to one attempt at a time), but a
worker runs at most OVERLAPPING_PASSES at once: each holds one of arq's job slots."""

from __future__ import annotations

import logging
from datetime import datetime

from adledger import clock
from adledger.jobs.billing import transact_of
from adledger.jobs.ledger import Ctx
from adledger.jobs.reports import job_log_level
from adledger.services.webhook_delivery import DeliveryOptions, DeliveryReport, run_pass

log = logging.getLogger(__name__)

OVERLAPPING_PASSES = 2
_running = 0


def options_of(ctx: Ctx) -> DeliveryOptions:
    """The tests hand in their own (a short timeout, a stub resolver); otherwise the
    settings say whether http and private addresses may be called."""
    given = ctx.get("webhook_delivery")
    if isinstance(given, DeliveryOptions):
        return given
    settings = ctx.get("settings")
    return DeliveryOptions(
        allow_private=bool(getattr(settings, "webhook_allow_private_targets", False))
    )


async def deliver_webhooks_job(ctx: Ctx, now: datetime) -> DeliveryReport:
    report = await run_pass(transact_of(ctx), now, options_of(ctx))
    level = job_log_level(report.did_something)
    log.log(level, "deliver-webhooks at %s: %s", now.isoformat(), report)
    return report


async def deliver_webhooks_cron(ctx: Ctx) -> DeliveryReport | None:
    """A tick finding OVERLAPPING_PASSES still running in this worker is skipped: the
    running ones serve every endpoint they reach, and the next tick is 5 s away."""
    global _running
    if _running >= OVERLAPPING_PASSES:
        log.debug("deliver-webhooks: %s passes still running; this tick skipped", _running)
        return None
    _running += 1
    try:
        return await deliver_webhooks_job(ctx, clock.now())
    finally:
        _running -= 1
