"""issue-invoices against Stripe itself (DESIGN §8, §10): the real `StripeProvider` talks
to the stateful HTTP fake of the Stripe API (tests/stripe_fake.py), which counts every
request and honours idempotency keys as Stripe does.

Two workers running the job for the same instant issue and charge every installment
once; a charge whose answer was lost is made again after the lease, with the same key,
and Stripe charges the card once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger.jobs.installments import ChargeReport, issue_invoices_job
from adledger.payments.stripe_provider import StripeProvider
from adledger.schema.ids import db_id_of
from adledger.services.card_charges import LEASE
from tests.api.campaign_fixtures import Shop
from tests.api.installment_fixtures import (
    card_campaign,
    card_shop,
    days_from_now,
    launch,
    plan_of,
)
from tests.helpers import Api, UserFactory, record_spend, spend_event
from tests.stripe_fake import StripeFake

API_KEY = "sk_test_adledgerWorkers0123456789"
CUSTOMERS = "/v1/customers"
INVOICES = "/v1/invoices"
ITEMS = "/v1/invoiceitems"
FINALIZE = "/v1/invoices/{id}/finalize"
PAY = "/v1/invoices/{id}/pay"
# The second installment of 1,000.00 over 30 days falls due 14 days after launch.
SECOND_DUE = 14.1

NewProvider = Callable[..., StripeProvider]


@pytest.fixture
def fake(httpserver: HTTPServer) -> Iterator[StripeFake]:
    stripe_fake = StripeFake(httpserver)
    yield stripe_fake
    stripe_fake.check()


@pytest.fixture
async def stripe_provider(fake: StripeFake) -> AsyncIterator[NewProvider]:
    """Makes StripeProviders pointed at the fake, one per worker; each is closed after."""
    made: list[StripeProvider] = []

    def new(**options: Any) -> StripeProvider:
        made.append(StripeProvider(API_KEY, api_base=fake.api_base, **options))
        return made[-1]

    yield new
    for provider in made:
        await provider.aclose()


def _worker(jobs: dict[str, Any], provider: StripeProvider) -> dict[str, Any]:
    """A worker process's ctx: the same database and billing settings, its own provider."""
    return {"transact": jobs["transact"], "billing": jobs["billing"], "provider": provider}


def _statuses(plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i["status"], i["amountDue"]["amount"]) for i in plan["invoices"]]


def _invoice_db_id(invoice: dict[str, Any]) -> int:
    found = db_id_of(invoice["id"], "Invoice")
    assert found is not None
    return found


def _done(reports: list[ChargeReport]) -> dict[str, int]:
    """The reports together, without the workers' "not due" (how the race fell out)."""
    total: Counter[str] = Counter()
    for report in reports:
        total.update({what: n for what, n in report.outcomes.items() if what != "not due"})
    return dict(total)


async def _launched_plans(
    api: Api, users: UserFactory, webhooks: Any, count: int
) -> tuple[Shop, list[str]]:
    """A center with a card (sandbox) and `count` INSTALLMENTS campaigns of 1,000.00 over
    30 days, launched (first installment paid) with 400.00 spent, ahead of payments."""
    shop = await card_shop(api, users, webhooks)
    campaign_ids = []
    for n in range(count):
        campaign_id = await card_campaign(api, shop, budget="1000.00", days=30)
        launched = await launch(api, shop, campaign_id)
        assert launched["__typename"] == "LaunchCampaignSuccess", launched
        spend = [spend_event(f"spend-{n}", campaign_id, "400.00")]
        recorded = await record_spend(api, spend, shop.adserver.token)
        assert (recorded["accepted"], recorded["refused"]) == (1, [])
        plan = await plan_of(api, shop, campaign_id)
        assert _statuses(plan) == [
            ("PAID", "333.33"),
            ("SCHEDULED", "333.33"),
            ("SCHEDULED", "333.34"),
        ]
        assert (plan["status"], plan["spent"]["amount"]) == ("ACTIVE", "400.00")
        campaign_ids.append(campaign_id)
    return shop, campaign_ids


async def _center_at_stripe(
    sessions: async_sessionmaker[AsyncSession], fake: StripeFake, shop: Shop
) -> str:
    """The center's customer (made at card setup) exists at Stripe with a card, and that
    card is the one on file. Answers the card."""
    center_id = db_id_of(shop.center.id, "BusinessCenter")
    assert center_id is not None
    async with sessions() as session:
        customer = await session.scalar(
            text("SELECT payment_customer_reference FROM business_centers WHERE id = :id"),
            {"id": center_id},
        )
        assert customer is not None
        card = fake.add_card(fake.add_customer(customer_id=customer))
        await session.execute(
            text("UPDATE business_centers SET card_reference = :card WHERE id = :id"),
            {"card": card, "id": center_id},
        )
        await session.commit()
    return card


async def test_two_workers_at_the_same_instant_issue_and_charge_each_installment_once(
    api, users, webhooks, jobs, sessions, fake, stripe_provider
) -> None:
    # given three launched plans whose second installments fall due at the same instant
    shop, campaign_ids = await _launched_plans(api, users, webhooks, 3)
    # and the center's customer and card at Stripe (the fake), the card on file
    card = await _center_at_stripe(sessions, fake, shop)
    assert fake.calls == []
    at = days_from_now(SECOND_DUE)

    # when two workers, each with its own StripeProvider, run issue-invoices at that instant
    workers = [_worker(jobs, stripe_provider()) for _ in range(2)]
    reports = await asyncio.gather(*(issue_invoices_job(ctx, at) for ctx in workers))

    # then together they opened and charged the three second installments, once each
    assert _done(list(reports)) == {"issued": 3, "paid": 3}
    # and Stripe got no customer and, per invoice, one draft, one item, one finalize and
    # one pay: nine invoice calls in all, none of them a replay
    assert fake.count("POST", CUSTOMERS) == 0
    for route in (INVOICES, ITEMS, FINALIZE, PAY):
        assert (fake.count("POST", route), fake.count("POST", route, replayed=True)) == (3, 0)
    assert all(call.status == 200 for call in fake.calls)
    assert len(fake.charges) == 3
    assert {(c.payment_method, c.amount, c.currency, c.succeeded) for c in fake.charges} == {
        (card, 33333, "usd", True)
    }
    created_for = sorted(
        int(call.params["metadata"]["adledger_invoice_id"])
        for call in fake.calls
        if (call.method, call.route) == ("POST", INVOICES)
    )
    seconds = []
    for campaign_id in campaign_ids:
        plan = await plan_of(api, shop, campaign_id)
        # and each second installment is PAID here, paid once at Stripe
        assert _statuses(plan) == [("PAID", "333.33"), ("PAID", "333.33"), ("SCHEDULED", "333.34")]
        assert plan["funded"]["amount"] == "666.66"
        second = plan["invoices"][1]
        reference = second["paymentReference"]
        assert reference in fake.invoices
        stripe_invoice = fake.invoices[reference]
        assert (stripe_invoice["status"], stripe_invoice["amount_paid"]) == ("paid", 33333)
        assert stripe_invoice["metadata"]["adledger_invoice_id"] == str(_invoice_db_id(second))
        assert fake.count("POST", f"/v1/invoices/{reference}/finalize") == 1
        pays = [c for c in fake.calls if c.path == f"/v1/invoices/{reference}/pay"]
        assert [c.idempotency_key for c in pays] == [
            f"invoice:{_invoice_db_id(second)}:charge-0:{card}:pay"
        ]
        assert fake.successful_charges(reference) == 1
        seconds.append(_invoice_db_id(second))
    assert created_for == sorted(seconds)
    # and a third run at that instant finds nothing due and calls Stripe no more
    calls = len(fake.calls)
    assert str(await issue_invoices_job(workers[0], at)) == "no invoices due"
    assert len(fake.calls) == calls


async def test_a_lost_pay_answer_is_charged_again_after_the_lease_with_the_same_key(
    api, users, webhooks, jobs, sessions, fake, stripe_provider
) -> None:
    # given a launched plan whose second installment falls due, the card at Stripe
    shop, (campaign_id,) = await _launched_plans(api, users, webhooks, 1)
    card = await _center_at_stripe(sessions, fake, shop)
    # and a worker whose SDK does not retry by itself (its own retry, with the same key,
    # would replay the stored answer within the call): the job's lease is the retry
    worker = _worker(jobs, stripe_provider(max_network_retries=0))
    at = days_from_now(SECOND_DUE)
    # and Stripe will charge the card but the answer of that pay call never arrives
    fake.lose_next_answer("POST", PAY)

    # when the job runs at the due instant
    first = await issue_invoices_job(worker, at)

    # then it reports the charge failed, though Stripe charged the card
    assert first.outcomes == {"issued": 1, "failed": 1}
    second = (await plan_of(api, shop, campaign_id))["invoices"][1]
    reference, invoice_id = second["paymentReference"], _invoice_db_id(second)
    assert (second["status"], reference in fake.invoices) == ("OPEN", True)
    assert fake.invoices[reference]["status"] == "paid"
    assert fake.successful_charges(reference) == 1
    pay_path = f"/v1/invoices/{reference}/pay"
    assert [(c.status, c.replayed) for c in fake.calls if c.path == pay_path] == [(500, False)]

    # when the job runs again while the lease holds, then nothing is due, Stripe not called
    calls = len(fake.calls)
    held = await issue_invoices_job(worker, at + LEASE - timedelta(seconds=1))
    assert str(held) == "no invoices due"
    assert len(fake.calls) == calls

    # when the job runs once the lease has ended (10 minutes later)
    after = await issue_invoices_job(worker, at + LEASE)

    # then it charges again with the same idempotency key: Stripe replays the first
    # answer, the card charged once
    assert after.outcomes == {"paid": 1}
    pays = [c for c in fake.calls if c.path == pay_path]
    key = f"invoice:{invoice_id}:charge-0:{card}:pay"
    assert [(c.idempotency_key, c.status, c.replayed) for c in pays] == [
        (key, 500, False),
        (key, 200, True),
    ]
    assert fake.successful_charges(reference) == 1
    assert [(c.invoice, c.payment_method, c.amount) for c in fake.charges] == [
        (reference, card, 33333)
    ]
    # and the invoice was issued at Stripe once (the second run reused it)
    assert (fake.count("POST", INVOICES), fake.count("POST", FINALIZE)) == (1, 1)
    # and it is PAID here, the plan funded by both payments
    plan = await plan_of(api, shop, campaign_id)
    assert _statuses(plan) == [("PAID", "333.33"), ("PAID", "333.33"), ("SCHEDULED", "333.34")]
    assert plan["funded"]["amount"] == "666.66"
