"""Campaign money under concurrency: simultaneous launches against one wallet, the same
spend reported by many clients, a budget cut racing spend, and two sweeps at once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.jobs.campaigns import credit_sweep_job
from adledger.services.verify import verify_ledger
from tests.api.campaign_fixtures import Shop, move_flight, open_shop
from tests.helpers import (
    Api,
    balance,
    campaign,
    launch,
    new_campaign,
    record_spend,
    spend_event,
    update_budget,
)


def _minor(amount: str) -> int:
    return int(amount.replace(".", ""))


async def test_twenty_launches_at_once_fund_exactly_what_the_wallet_covers(api, users) -> None:
    # given 20 campaigns of 100.00 and a wallet of 750.00 (seven and a half of them)
    shop = await open_shop(api, users, cash="750.00")
    ids = [await new_campaign(api, shop.account, shop.token, "100.00") for _ in range(20)]

    # when all launch at once
    results = await asyncio.gather(*(launch(api, c, shop.token) for c in ids))

    # then exactly 7 are funded; one holds the last 50.00; every shortfall is budget - hold
    statuses = [r["campaign"]["status"] for r in results]
    assert statuses.count("ACTIVE") == 7 and statuses.count("PENDING_FUNDS") == 13
    shortfalls = sorted(
        _minor(r["shortfallInvoice"]["amountDue"]["amount"])
        for r in results
        if r["shortfallInvoice"]
    )
    assert shortfalls == [5000] + [10000] * 12
    left = await balance(api, shop.account.wallet_id, shop.token)
    assert (left["available"]["amount"], left["held"]["amount"]) == ("0.00", "50.00")


async def test_eight_clients_sending_the_same_ten_thousand_events_apply_each_once(
    api, users, sessions
) -> None:
    # given four campaigns with room for every event
    shop = await open_shop(api, users, cash="4000.00")
    ids = [await new_campaign(api, shop.account, shop.token, "1000.00") for _ in range(4)]
    for campaign_id in ids:
        await launch(api, campaign_id, shop.token)
    events = [spend_event(f"evt-{i}", ids[i % 4], "0.01") for i in range(10_000)]
    batches = [events[i : i + 1000] for i in range(0, 10_000, 1000)]

    # when 8 clients send all of them, each in its own order
    async def client(n: int) -> list[dict[str, object]]:
        order = batches[n % 10 :] + batches[: n % 10]
        return [await record_spend(api, batch, shop.adserver.token) for batch in order]

    answers = [a for answer in await asyncio.gather(*(client(n) for n in range(8))) for a in answer]

    # then each event counts once: 100.00 spent in all, 25.00 per campaign
    assert sum(a["accepted"] for a in answers) == 10_000
    assert sum(a["duplicates"] for a in answers) == 70_000
    for campaign_id in ids:
        assert (await campaign(api, campaign_id, shop.token))["spent"]["amount"] == "25.00"
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM spend_events")) == 10_000


async def test_a_budget_cut_racing_spend_keeps_every_sum(api, users, sessions) -> None:
    shop = await open_shop(api, users, cash="1000.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "1000.00")
    await launch(api, campaign_id, shop.token)
    batches = [
        [spend_event(f"r{b}-{i}", campaign_id, "10.00") for i in range(10)] for b in range(8)
    ]

    # when eight batches of 100.00 and a cut to 500.00 arrive together
    spend = [record_spend(api, batch, shop.adserver.token) for batch in batches]
    results = await asyncio.gather(update_budget(api, campaign_id, shop.token, "500.00"), *spend)

    # then either the cut came first (spend stops at 500.00) or it was refused as below
    # the spend already made; in both cases nothing is lost or made up
    cut, found = results[0], await campaign(api, campaign_id, shop.token)
    spent, credited = _minor(found["spent"]["amount"]), _minor(found["credited"]["amount"])
    cash = _minor((await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"])
    if cut["__typename"] == "UpdateCampaignBudgetSuccess":
        assert (spent, credited, cash) == (50000, 50000, 50000)
    else:
        assert cut["__typename"] == "BudgetBelowMinimumError"
        assert (spent, credited) == (80000, 0)
    assert spent <= _minor(found["budget"]["amount"])
    async with sessions() as session:
        assert await verify_ledger(session) == []


async def _ended_campaigns(
    api: Api, shop: Shop, sessions: async_sessionmaker[AsyncSession], count: int
) -> datetime:
    ends = clock.now() - timedelta(hours=13)
    campaign_ids = []
    for _ in range(count):
        campaign_id = await new_campaign(api, shop.account, shop.token, "50.00")
        await launch(api, campaign_id, shop.token)
        campaign_ids.append(campaign_id)
    # 10.00 spent by each, in one batch (one request, not one a campaign)
    events = [spend_event(f"s{n}", c, "10.00") for n, c in enumerate(campaign_ids)]
    spent = await record_spend(api, events, shop.adserver.token)
    assert spent["accepted"] == count, spent
    for campaign_id in campaign_ids:
        await move_flight(sessions, campaign_id, ends - timedelta(days=1), ends)
    return clock.now()


async def _settlements(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT count(*) FROM ledger_entries WHERE idempotency_key LIKE :settle_keys "
                "GROUP BY campaign_id"
            ),
            {"settle_keys": "campaign:%:settle"},
        )
        return [count for (count,) in rows.all()]


async def test_two_workers_sweeping_the_same_instant_credit_each_campaign_once(
    api, users, sessions, jobs
) -> None:
    shop = await open_shop(api, users, cash="500.00")
    now = await _ended_campaigns(api, shop, sessions, 10)

    first, second = await asyncio.gather(credit_sweep_job(jobs, now), credit_sweep_job(jobs, now))

    assert first.steps.get("credited", 0) + second.steps.get("credited", 0) == 10
    assert await _settlements(sessions) == [1] * 10
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "400.00"


async def test_a_sweep_killed_halfway_and_run_again_credits_each_campaign_once(
    api, users, sessions, jobs, database_url, redis_url
) -> None:
    # given many ended campaigns, and a sweep process killed with SIGKILL mid-run
    shop = await open_shop(api, users, cash="6000.00")
    now = await _ended_campaigns(api, shop, sessions, 120)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adledger.app.cli", "jobs", "run", "credit-sweep",
        "--now", now.isoformat(), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    settled_before_kill = await _kill_once_some_settled(process, sessions)
    assert process.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"

    # when the sweep runs again
    await credit_sweep_job(jobs, now)

    # then every campaign is settled exactly once, 40.00 back each
    assert 0 < settled_before_kill < 120
    assert await _settlements(sessions) == [1] * 120
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "4800.00"


async def _kill_once_some_settled(
    process: asyncio.subprocess.Process, sessions: async_sessionmaker[AsyncSession]
) -> int:
    settled = 0
    for _ in range(3000):
        settled = sum(await _settlements(sessions))
        if settled or process.returncode is not None:
            break
        await asyncio.sleep(0.01)
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.wait()
    return settled
