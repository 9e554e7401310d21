"""`adledger dev` started again on the demo it seeded before: the banner's recordSpend
examples name the campaigns they say they do, looked up by name, whatever was launched
after them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.app import devstack
from adledger.app.demo.banner import crossing_amount, guard_example, spend_body
from adledger.app.demo.cards import ensure_card_plan
from adledger.app.demo.guard import GuardDemo, ensure_balance_guard
from adledger.app.demo.seed import seed_demo
from adledger.app.settings import Settings
from adledger.payments.sandbox import SandboxProvider
from adledger.schema.ids import to_global_id
from adledger.services import effects
from adledger.services.config import BillingConfig
from adledger.store.db import transaction_runner
from tests.helpers import Api

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
    body = json.loads(spend_body("Q2FtcGFpZ246MQ==", "demo"))
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


# -- Contoso Retail's balance guard (issue 27, item 6) -----------------------------------


async def _seeded_guard(
    sessions: async_sessionmaker[AsyncSession], sandbox: SandboxProvider
) -> GuardDemo:
    async with sessions() as session:
        await seed_demo(session, BillingConfig(), clock.now())
        await session.commit()
    guard = await _ensure_guard(sessions, sandbox)
    assert guard is not None
    return guard


async def _ensure_guard(
    sessions: async_sessionmaker[AsyncSession], sandbox: SandboxProvider
) -> GuardDemo | None:
    transact = effects.transaction_runner(sessions)
    return await ensure_balance_guard(
        transact, sandbox, sandbox.confirm_card_setup, BillingConfig(), clock.now()
    )


async def _guard_rows(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    async with sessions() as session:
        center = (
            await session.execute(
                text(
                    "SELECT c.id, c.card_reference, w.id AS wallet FROM business_centers c "
                    "JOIN wallets w ON w.business_center_id = c.id AND w.ad_account_id IS NULL "
                    "WHERE c.name = 'Contoso Retail'"
                )
            )
        ).one()
        rule = (
            await session.execute(
                text(
                    "SELECT threshold, amount, target_balance, monthly_cap, status, armed, "
                    "in_flight_invoice_id FROM auto_recharge_rules WHERE wallet_id = :w"
                ),
                {"w": center.wallet},
            )
        ).all()
        alerts = (
            await session.execute(
                text(
                    "SELECT kind, threshold, days, armed FROM balance_alerts "
                    "WHERE wallet_id = :w ORDER BY position"
                ),
                {"w": center.wallet},
            )
        ).all()
        setups = await session.scalar(
            text("SELECT count(*) FROM card_setups WHERE business_center_id = :c"),
            {"c": center.id},
        )
    return {
        "card": center.card_reference,
        "rule": [tuple(row) for row in rule],
        "alerts": [tuple(row) for row in alerts],
        "setups": setups,
    }


async def test_the_seeded_contoso_has_a_card_a_recharge_rule_and_alerts(
    sessions: async_sessionmaker[AsyncSession], sandbox: SandboxProvider
) -> None:
    # given the demo seeded, then its balance guard set as `make dev` sets it
    guard = await _seeded_guard(sessions, sandbox)
    # when a second start asks for it again
    again = await _ensure_guard(sessions, sandbox)
    # then Contoso Retail's center wallet has a saved sandbox card (one setup), the rule
    # and both alerts, set once; 1,860.00 available (1,360.00 cash, the 500.00 credit line)
    rows = await _guard_rows(sessions)
    assert rows["card"] is not None and rows["card"].startswith("pm_sandbox_")
    assert rows["setups"] == 1
    assert rows["rule"] == [(170_000, None, 180_000, 500_000, "ACTIVE", True, None)]
    assert rows["alerts"] == [
        ("BALANCE_BELOW", 175_000, None, True),
        ("RUNWAY_BELOW_DAYS", None, Decimal("3.00"), True),
    ]
    expected = (186_000, 170_000, 180_000, "ACTIVE", False)
    assert (guard.available, guard.threshold, guard.target, guard.rule_status) == expected[:4]
    assert guard.in_flight is False
    assert again == guard


async def test_the_banners_recharge_spend_crosses_the_threshold_and_is_paid_at_once(
    api: Api,
    database_url: str,
    redis_url: str,
    sessions: async_sessionmaker[AsyncSession],
    sandbox: SandboxProvider,
) -> None:
    # given the demo with its balance guard, and the banner `make dev` prints for it
    guard = await _seeded_guard(sessions, sandbox)
    access = await devstack._demo_access(Settings(database_url=database_url, redis_url=redis_url))
    assert access.automatic_campaign_id is not None
    url = "http://127.0.0.1:8000/graphql"
    lines = guard_example(
        url, access.token, access.adserver_token, access.automatic_campaign_id, guard
    )
    spend = json.loads(_curl_body(lines, "recordSpend"))
    look = json.loads(_curl_body(lines, "AUTO_RECHARGE"))
    # when the ad server sends the banner's recordSpend, and the admin its query
    answer = await api.data(spend["query"], spend["variables"], token=access.adserver_token)
    seen = await api.data(look["query"], token=access.token)
    # then 165.00 crossed 1,700.00 (1,860.00 - 165.00 = 1,695.00): the recharge of 105.00
    # was charged to the sandbox card in that request, paid and credited up to 1,800.00
    assert "It has 1,860.00 USD available now: report 165.00 of spend on\n" in lines
    assert "  'Holiday push' to take it below the threshold:\n" in lines
    assert "Contoso Retail's wallet recharges itself: below 1,700.00 USD available" in lines
    assert "up to 1,800.00 USD" in lines
    assert spend["variables"]["events"][0]["amount"] == {"amount": "165.00", "currencyCode": "USD"}
    assert answer["recordSpend"]["accepted"] == 1 and answer["recordSpend"]["refused"] == []
    center = seen["businessCenter"]
    invoices = [edge["node"] for edge in center["invoices"]["edges"]]
    assert [(i["status"], i["amountDue"]["amount"]) for i in invoices] == [("PAID", "105.00")]
    assert invoices[0]["paidAt"] is not None
    wallet = center["wallet"]
    assert wallet["balance"]["available"]["amount"] == "1800.00"
    assert wallet["autoRecharge"] == {
        "status": "ACTIVE",
        "threshold": {"amount": "1700.00"},
        "targetBalance": {"amount": "1800.00"},
        "rechargedThisMonth": {"amount": "105.00"},
    }
    fired = [(a["kind"], a["armed"], a["lastTriggeredAt"] is None) for a in wallet["balanceAlerts"]]
    assert fired == [("BALANCE_BELOW", False, False), ("RUNWAY_BELOW_DAYS", True, True)]
    kinds = [edge["node"]["kind"] for edge in center["notifications"]["edges"]]
    assert kinds == ["AUTO_RECHARGE_PAID", "BALANCE_LOW"]  # newest first
    # (the runway weighs complete days only: today's spend counts from tomorrow)
    assert (wallet["runway"]["daysLeft"], wallet["runway"]["committedShortfall"]) == (
        None,
        {"amount": "0.00"},
    )


def _curl_body(lines: str, marker: str) -> str:
    curl = next(line for line in lines.splitlines() if "curl" in line and marker in line)
    return curl.split(" -d '", 1)[1].rstrip("'")


def test_a_demo_below_its_threshold_says_its_recharge_is_in_flight() -> None:
    # given Contoso's wallet at 1,650.00 with its recharge's invoice not paid yet
    guard = GuardDemo(1, 2, 165_000, 170_000, 180_000, "ACTIVE", in_flight=True)
    # when the banner is printed
    lines = guard_example("http://x/graphql", "admin", "adserver", "Q2FtcGFpZ246MQ==", guard)
    # then no spend is proposed: the recharge is on its way
    assert (
        "It has 1,650.00 USD available now, below the threshold: a recharge is in flight" in lines
    )
    assert "recordSpend" not in lines
    assert "AUTO_RECHARGE" in lines


def test_the_crossing_spend_follows_the_balance_a_reused_demo_has() -> None:
    # given wallets at the threshold, a cent above it, and after the 12.50 example
    def at(available: int) -> int | None:
        return crossing_amount(GuardDemo(1, 2, available, 170_000, 180_000, "ACTIVE", False))

    # then each spend takes the balance below 1,700.00, by a multiple of 5.00
    assert [at(170_000), at(170_001), at(184_750), at(186_000)] == [500, 500, 15_000, 16_500]
    assert at(169_999) is None


def test_a_disabled_rule_is_said_so_and_no_spend_is_proposed() -> None:
    # given Contoso's rule disabled by a member since the demo set it
    guard = GuardDemo(1, 2, 186_000, 170_000, 180_000, "DISABLED", in_flight=False)
    # when the banner is printed
    lines = guard_example("http://x/graphql", "admin", "adserver", "Q2FtcGFpZ246MQ==", guard)
    # then it says so, and proposes no spend to cross a threshold nothing watches
    assert "Its automatic recharge is DISABLED:\n  setAutoRecharge starts it again." in lines
    assert "It has 1,860.00 USD available now.\n" in lines
    assert "recordSpend" not in lines
