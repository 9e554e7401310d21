"""The transactional outbox (services/outbox.py, services/effects.py): what a mutation
asks of the provider is declared in its transaction, run at once after the commit, and
left to the run-outbox job (with backoff) when it fails; each effect is done once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from adledger import clock
from adledger.jobs.outbox import run_outbox_job
from adledger.services.effect_kinds import SEQUENCE_EVENTS
from adledger.store.models import Invoice, OutboxEffect
from tests.helpers import create_center, subscribe, top_up

INVOICE = """query($id: ID!) { wallet(id: $id) {
  pendingTopUps { invoice { number paymentReference } } } }"""


@pytest.fixture
async def center(api, users):
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "399.00")
    assert (await subscribe(api, center))["__typename"] == "SubscribeToPlanSuccess"
    return center


async def _effects(sessions) -> list[OutboxEffect]:
    """The provider calls declared (not the numbering of partner events: tests/api/test_events.py)."""
    stmt = select(OutboxEffect).where(OutboxEffect.kind != SEQUENCE_EVENTS)
    async with sessions() as session:
        return list(await session.scalars(stmt.order_by(OutboxEffect.id)))


async def _top_up_invoice(sessions) -> Invoice:
    async with sessions() as session:
        found = await session.scalars(select(Invoice).where(Invoice.kind == "TOP_UP"))
        return found.one()


async def test_a_top_ups_invoice_is_one_effect_run_at_once_and_done(api, center, sessions) -> None:
    # when a top-up is asked for
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    # then its answer shows the invoice issued, and the outbox holds one effect, done
    assert result["topUp"]["invoice"]["paymentReference"].startswith("in_sandbox_")
    invoice = await _top_up_invoice(sessions)
    [effect] = await _effects(sessions)
    assert (effect.kind, effect.idempotency_key) == ("invoice.issue", f"invoice:{invoice.id}:issue")
    assert (effect.attempts, effect.last_error, effect.locked_until) == (1, None, None)
    assert effect.done_at is not None
    assert effect.payload["invoice_id"] == invoice.id
    assert effect.payload["provider_key"].startswith("topup:")


async def test_an_effect_the_provider_refused_is_run_by_the_job_after_its_backoff(
    api, center, sessions, app_provider, jobs, sandbox
) -> None:
    # given a top-up (with a key: the caller may retry) the provider did not take
    app_provider.fail_next(1)
    first = await top_up(api, center.wallet_id, center.admin.token, amount="50.00", key="t-1")
    assert first["__typename"] == "PaymentProviderError"
    [effect] = await _effects(sessions)
    assert (effect.attempts, effect.done_at, effect.locked_until) == (1, None, None)
    assert effect.last_error is not None
    assert effect.last_error.startswith("PaymentProviderFailed: ")
    assert effect.next_attempt_at >= clock.now() + timedelta(seconds=10)
    # when the job runs before the backoff ends, then after it
    early = await run_outbox_job(jobs, clock.now())
    late = await run_outbox_job(jobs, clock.now() + timedelta(minutes=1))
    # then it ran once, after the backoff, and the invoice is issued
    assert (str(early), str(late)) == ("no effects due", "ran 1 effect")
    [effect] = await _effects(sessions)
    assert (effect.attempts, effect.done_at is not None) == (2, True)
    reference = (await _top_up_invoice(sessions)).payment_reference
    assert reference is not None and reference.startswith("in_sandbox_")
    # and the caller's retry finds it done: the same invoice, no other effect
    retried = await top_up(api, center.wallet_id, center.admin.token, amount="50.00", key="t-1")
    assert retried["topUp"]["invoice"]["paymentReference"] == reference
    assert len(await _effects(sessions)) == 1
    assert str(await run_outbox_job(jobs, clock.now() + timedelta(hours=2))) == "no effects due"


async def test_a_top_up_taken_back_drops_its_effect(api, center, sessions, app_provider, jobs):
    # given a top-up without a key the provider did not take (so it is taken back)
    app_provider.fail_next(1)
    result = await top_up(api, center.wallet_id, center.admin.token, amount="50.00")
    assert result["__typename"] == "PaymentProviderError"
    # then its effect is done without running, and the job never issues the invoice
    [effect] = await _effects(sessions)
    assert effect.done_at is not None
    assert effect.last_error == "top-up taken back"
    assert str(await run_outbox_job(jobs, clock.now() + timedelta(hours=2))) == "no effects due"
    assert (await _top_up_invoice(sessions)).payment_reference is None
