"""send-refunds: refunds staff approved that the provider did not take yet (an outage, a
crash after the commit) are made now, each keyed by our refund's id, so a retry reaches
the refund a lost answer already made and never makes a second."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from adledger import clock
from adledger.domain.errors import PaymentProviderFailed
from adledger.jobs.billing import tools_of
from adledger.jobs.ledger import Ctx
from adledger.jobs.reports import job_log_level
from adledger.services import effects
from adledger.store import refunds as store

log = logging.getLogger(__name__)

BATCH = 200


@dataclass
class RefundReport:
    made: int = 0
    failed: int = 0

    @property
    def did_something(self) -> bool:
        return bool(self.made or self.failed)

    def __str__(self) -> str:
        if not (self.made or self.failed):
            return "no refunds to send"
        text = f"made {self.made} refund{'s' if self.made != 1 else ''}"
        return text + (f", {self.failed} not taken (retried next run)" if self.failed else "")


async def send_refunds_job(ctx: Ctx, now: datetime) -> RefundReport:
    tools = tools_of(ctx)
    report = RefundReport()
    for refund_id in await tools.transact(lambda s: store.unsent_refund_ids(s, BATCH)):
        try:
            await effects.send_refund(tools, refund_id)
        except PaymentProviderFailed as err:
            log.warning("refund %s not made yet (%s)", refund_id, err)
            report.failed += 1
            continue
        report.made += 1
    log.log(job_log_level(report.did_something), "send-refunds at %s: %s", now.isoformat(), report)
    return report


async def send_refunds_cron(ctx: Ctx) -> RefundReport:
    return await send_refunds_job(ctx, clock.now())
