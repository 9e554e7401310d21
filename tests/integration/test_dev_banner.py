"""`adledger dev` started again on the demo it seeded before: the banner's recordSpend
examples name the campaigns they say they do, looked up by name, whatever was launched
after them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.app import devstack
from adledger.app.demo.cards import ensure_card_plan
from adledger.app.demo.seed import seed_demo
from adledger.app.settings import Settings
from adledger.payments.sandbox import SandboxProvider
from adledger.schema.ids import to_global_id
from adledger.services.config import BillingConfig
from adledger.store.db import transaction_runner

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture
async def sandbox(redis_url: str) -> AsyncIterator[SandboxProvider]:
    client = Redis.from_url(redis_url)
    yield SandboxProvider(client)
    await client.aclose()


async def _campaign_id(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    async with sessions() as session:
        found = await session.scalar(text("SELECT id FROM campaigns WHERE name = :n"), {"n": name})
    assert found is not None
    return int(found)


async def test_a_restart_names_winter_sale_not_the_newer_billboard_run(
    database_url: str,
    redis_url: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxProvider,
) -> None:
    # given the demo as a first `make dev` leaves it: seeded, then "Billboard run" launched
    # after it (a newer campaign of Northwind Agency, delivering too)
    async with sessions() as session:
        seed = await seed_demo(session, BillingConfig(), clock.now())
        await session.commit()
    plan = await ensure_card_plan(
        transaction_runner(sessions),
        sandbox,
        sandbox.confirm_card_setup,
        BillingConfig(),
        clock.now(),
    )
    assert plan is not None and plan.campaign_id > seed.campaign_id
    # when `make dev` starts again on that data
    access = await devstack._demo_access(Settings(database_url=database_url, redis_url=redis_url))
    example = devstack._spend_example("http://127.0.0.1:8000/graphql", access)
    # then the examples name 'Winter sale' and 'Holiday push', each by its own id
    winter = to_global_id("Campaign", seed.campaign_id)
    holiday = to_global_id("Campaign", await _campaign_id(sessions, "Holiday push"))
    assert (access.campaign_id, access.automatic_campaign_id) == (winter, holiday)
    assert "on the demo campaign 'Winter sale' with it" in example
    assert f'"campaignId": "{winter}"' in example
    assert to_global_id("Campaign", plan.campaign_id) not in example


def test_the_banners_spend_is_dated_no_earlier_than_now(time_travel) -> None:
    # given a demo seeded (its campaigns launched) at a moment within a second
    launched = time_travel.to(datetime(2026, 12, 31, 23, 30, 0, 999_000, tzinfo=UTC))
    # when the banner dates its recordSpend example
    body = json.loads(devstack._spend_body("Q2FtcGFpZ246MQ==", "demo"))
    # then the event is not dated before the launch (rounded up to the second, not down)
    occurred = datetime.fromisoformat(body["variables"]["events"][0]["occurredAt"])
    assert launched <= occurred <= launched + timedelta(seconds=2)
    assert occurred.microsecond == 0


async def test_the_demo_leaves_no_effect_for_the_worker(
    database_url: str, redis_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # given the demo seeded: its services declared their invoices' issue in the outbox
    async with sessions() as session:
        await seed_demo(session, BillingConfig(), clock.now())
        await session.commit()
    # when `make dev` sends the demo's invoices after the seed's commit
    await devstack._issue_demo_invoices(Settings(database_url=database_url, redis_url=redis_url))
    # then every declared effect ran, and none waits for the worker's grace
    async with sessions() as session:
        declared = await session.scalar(text("SELECT count(*) FROM outbox"))
        undone = await session.scalar(text("SELECT count(*) FROM outbox WHERE done_at IS NULL"))
    assert declared and undone == 0
