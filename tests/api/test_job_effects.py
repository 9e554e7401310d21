"""The jobs that open an invoice (a subscription's renewal, a credit-line statement)
declare its issue at the provider in the outbox, in the transaction that opens it: the
provider down after the commit, run-outbox issues it once, with no sweep needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from adledger import clock
from adledger.jobs.billing import renew_subscriptions_job
from adledger.jobs.credit_line import StatementReport, close_credit_line_cycles_job
from adledger.jobs.outbox import OutboxReport, run_outbox_job
from adledger.jobs.reports import RenewalReport
from adledger.store import outbox as outbox_repo
from adledger.store.models import Invoice, OutboxEffect
from tests.api.test_credit_line_statements import DEC_2026, open_line, spend, statements
from tests.helpers import create_center, subscribe


async def _issue_effect(sessions, invoice_id: int) -> OutboxEffect | None:
    async with sessions() as session:
        return await outbox_repo.effect(session, f"invoice:{invoice_id}:issue")


async def test_a_statement_the_provider_did_not_take_is_issued_by_run_outbox(
    api, users, sessions, jobs, sandbox
) -> None:
    # given a provider outage while November closes
    line = await open_line(api, users)
    await spend(sessions, line.wallet_id, 30000, datetime(2026, 11, 15, tzinfo=UTC))
    sandbox.fail_next(1)
    report = await close_credit_line_cycles_job(jobs, DEC_2026)
    assert report == StatementReport(opened=1, not_issued=1)
    [statement] = await statements(sessions)
    effect = await _issue_effect(sessions, statement.id)
    assert effect is not None and (effect.done_at, effect.attempts) == (None, 1)

    # when run-outbox runs after the effect's backoff
    ran = await run_outbox_job(jobs, clock.now() + timedelta(minutes=5))

    # then the statement is at the provider, and its effect done
    assert ran == OutboxReport(done=1)
    [statement] = await statements(sessions)
    assert statement.payment_reference is not None
    effect = await _issue_effect(sessions, statement.id)
    assert effect is not None and effect.done_at is not None


async def test_a_renewal_invoice_is_issued_through_its_outbox_effect(
    api, users, sessions, jobs
) -> None:
    # given a PRO plan whose renewal the remaining balance cannot pay
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "250.00")
    subscribed = await subscribe(api, center, "PRO")
    period_end = datetime.fromisoformat(
        subscribed["businessCenter"]["subscription"]["currentPeriodEnd"]
    )

    # when the period ends
    assert await renew_subscriptions_job(jobs, period_end) == RenewalReport(invoiced=1)

    # then the renewal invoice is issued at once, by its effect, done once
    async with sessions() as session:
        renewal = await session.scalar(
            select(Invoice).where(Invoice.kind == "SUBSCRIPTION").order_by(Invoice.id.desc())
        )
    assert renewal is not None and renewal.payment_reference is not None
    effect = await _issue_effect(sessions, renewal.id)
    assert effect is not None and (effect.done_at is not None, effect.attempts) == (True, 1)
