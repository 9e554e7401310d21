"""The retry job: one event that fails unexpectedly neither stops the others nor is retried
for ever."""

from __future__ import annotations

from sqlalchemy import select

from adledger import clock
from adledger.jobs.billing import retry_webhook_events_job
from adledger.jobs.reports import RetryReport
from adledger.services import webhooks
from adledger.store import billing
from adledger.store.models import WebhookEvent


async def _failed(sessions, event_id: str, event_type: str) -> None:
    payload = {"id": event_id, "type": event_type, "data": {"object": {"id": "in_x"}}}
    async with sessions() as session:
        await billing.record_failed_event(session, event_id, event_type, payload, "earlier")
        await session.commit()


async def _attempts(sessions, event_id: str) -> int:
    async with sessions() as session:
        stmt = select(WebhookEvent.attempts).where(WebhookEvent.event_id == event_id)
        return (await session.scalars(stmt)).one()


async def test_one_broken_event_does_not_stop_the_others(jobs, sessions, monkeypatch) -> None:
    # given two failed events, the first of which breaks in an unexpected way
    await _failed(sessions, "evt_broken", "customer.updated")
    await _failed(sessions, "evt_fine", "customer.created")
    real = webhooks.process_event

    async def process(transact, provider, event, now):
        if event["id"] == "evt_broken":
            raise RuntimeError("a bug")
        return await real(transact, provider, event, now)

    monkeypatch.setattr(webhooks, "process_event", process)
    # when the retry job runs
    report = await retry_webhook_events_job(jobs, clock.now())
    # then the other event was processed and the broken one counted an attempt
    assert report == RetryReport({"FAILED": 1, "IGNORED": 1})
    assert await _attempts(sessions, "evt_broken") == 2


async def test_a_broken_event_is_given_up_after_the_maximum_attempts(
    jobs, sessions, monkeypatch
) -> None:
    await _failed(sessions, "evt_broken", "customer.updated")

    async def broken(*_):
        raise RuntimeError("a bug")

    monkeypatch.setattr(webhooks, "process_event", broken)
    for _ in range(webhooks.MAX_ATTEMPTS + 2):
        await retry_webhook_events_job(jobs, clock.now())

    assert await _attempts(sessions, "evt_broken") == webhooks.MAX_ATTEMPTS
    assert await retry_webhook_events_job(jobs, clock.now()) == RetryReport()
