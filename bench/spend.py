"""Spend events per second through `recordSpend` over HTTP, against a naive baseline.

    python bench/spend.py [--clients 8] [--batch 500] [--batches 120] [--naive-events 8000]
                          [--cases abcd]

In one run, on one freshly migrated database:
- naive: one transaction per event (lock the balance row, update it, insert the event),
  straight over SQL from `--clients` connections, spread over 50 rows so that no lock is
  shared: the best a per-event design can do, with no HTTP in the way;
- (a) one ad account: `--batches` batches of `--batch` events for its one campaign, sent
  by `--clients` clients at once, through the API in a child process (uvicorn);
- (b) 50 business centers, one campaign each, the same number of batches round-robin
  from the same clients: nothing global (a platform account, a counter) may serialize them;
- (c) one business center under automatic allocation, 20 ad accounts with one campaign
  each drawing on the center's shared balance as they spend, batches round-robin: the hot
  center costs one row lock per batch (one debit per bucket and campaign), not per event;
- (d) the 50 campaigns of (b) mixed: each batch's events cycle over all 50 campaigns of the
  50 centers, as an ad server sends them: a batch locks and writes for 50 centers at once.

Every event is 0.01; afterwards each campaign's `spent` is checked against what was sent,
nothing may be refused, and `verify-ledger` must pass. Prints events/s and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from _cpu import CpuWatch
from _stack import api_process, fresh_database, servers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from adledger import clock
from adledger.domain.ad_accounts import AdAccountType, BillingOption
from adledger.domain.billing import Plan
from adledger.domain.budgets import BudgetMode
from adledger.domain.money import Currency, Money
from adledger.domain.wallets import MoneyIn
from adledger.schema.ids import to_global_id
from adledger.services import users
from adledger.services.actor import Actor
from adledger.services.allocation import enable_automatic_allocation
from adledger.services.budgets import BudgetCommand, set_ad_account_budget
from adledger.services.business_centers import create_ad_account, create_business_center
from adledger.services.campaigns import NewCampaign, create_campaign, launch_campaign
from adledger.services.config import BillingConfig
from adledger.services.subscriptions import subscribe
from adledger.services.verify import verify_ledger
from adledger.services.wallets import credit_adjustment
from adledger.store import users as user_repo
from adledger.store import wallets as wallet_repo
from adledger.store.db import make_engine, make_sessionmaker

CENTERS = 50
CPU_PER_BATCH: dict[str, tuple[float, float]] = {}
"""Seconds of CPU per batch of each case: (the API process, PostgreSQL)."""
AUTOMATIC_ACCOUNTS = 20
BUDGET = "1000000.00"
RECORD_SPEND = (
    "mutation($events: [SpendEventInput!]!) { recordSpend(input: {events: $events}) "
    "{ __typename ... on RecordSpendSuccess { accepted duplicates refused { eventId } } "
    "... on UserError { code message } } }"
)


@dataclass(frozen=True)
class Options:
    clients: int
    batch: int
    batches: int
    naive_events: int
    workers: int
    cases: str


def main() -> None:
    args = _arguments()
    options = Options(
        args.clients, args.batch, args.batches, args.naive_events, args.workers, args.cases
    )
    with servers() as (admin_url, redis_url):
        rates = asyncio.run(_run(fresh_database(admin_url), redis_url, options))
    _report(rates, options)


async def _run(database_url: str, redis_url: str, options: Options) -> dict[str, float]:
    engine = make_engine(database_url, pool_size=options.clients, max_overflow=0)
    try:
        one, many, drawn, token = await _seed(engine)
        rates = {"naive": await _naive(engine, options)}
        with api_process(database_url, redis_url, options.workers) as base_url:
            rates.update(await _batched(base_url, token, one, many, drawn, options))
        await _check(engine, options, one, many, drawn)
    finally:
        await engine.dispose()
    return rates


# -- data --------------------------------------------------------------------------------


async def _seed(engine: AsyncEngine) -> tuple[int, list[int], list[int], str]:
    """One campaign for (a), fifty in fifty business centers for (b), twenty drawing on one
    center for (c), and the ad server."""
    async with make_sessionmaker(engine)() as session:
        now = clock.now()
        admin = await _user(session, "bench@example.com")
        campaigns = [await _shop(session, admin, n, now) for n in range(CENTERS + 1)]
        drawn = await _automatic_center(session, admin, now)
        token = await users.create_user(session, "adserver@example.com", is_integration=True)
        await session.commit()
    return campaigns[0], campaigns[1:], drawn, token


async def _user(session: AsyncSession, email: str) -> Actor:
    await users.create_user(session, email)
    user = await user_repo.user_by_email(session, email)
    assert user is not None
    return Actor(user.id, user.email, user.is_staff)


async def _shop(session: AsyncSession, admin: Actor, n: int, now: datetime) -> int:
    """A subscribed business center whose one ad account runs one big campaign."""
    config = BillingConfig()
    center = await create_business_center(session, admin, f"Center {n}", Currency.USD)
    center_id = center.business_center_id
    await _fund(session, (await wallet_repo.wallets_of_centers(session, [center_id]))[0].id)
    await subscribe(session, admin, center_id, Plan.PRO, True, config, now)
    account = await create_ad_account(
        session, admin, center_id, f"Account {n}", BillingOption.PREPAID, AdAccountType.AUCTION
    )
    wallets = await wallet_repo.wallets_of_ad_accounts(session, [account.ad_account_id])
    await _fund(session, wallets[0].id)
    flight = (now - timedelta(hours=1), now + timedelta(days=30))
    new = NewCampaign(
        account.ad_account_id, f"Campaign {n}", MoneyIn(BUDGET, Currency.USD), *flight
    )
    created = await create_campaign(session, admin, new, config, now)
    await launch_campaign(session, admin, created.campaign_id, config, now)
    return created.campaign_id


async def _automatic_center(session: AsyncSession, admin: Actor, now: datetime) -> list[int]:
    """A center under automatic allocation whose 20 accounts each run one campaign that
    draws on the center's balance (their caps lifted: only money limits them)."""
    config = BillingConfig()
    center = await create_business_center(session, admin, "Automatic center", Currency.USD)
    center_id = center.business_center_id
    await _fund(session, (await wallet_repo.wallets_of_centers(session, [center_id]))[0].id)
    await subscribe(session, admin, center_id, Plan.PRO, True, config, now)
    accounts = [
        (
            await create_ad_account(
                session,
                admin,
                center_id,
                f"Drawing account {n}",
                BillingOption.MONTHLY_INVOICING,
                AdAccountType.AUCTION,
            )
        ).ad_account_id
        for n in range(AUTOMATIC_ACCOUNTS)
    ]
    await enable_automatic_allocation(session, admin, center_id, now)
    flight = (now - timedelta(hours=1), now + timedelta(days=30))
    campaigns = []
    for n, account_id in enumerate(accounts):
        lifted = BudgetCommand(account_id, BudgetMode.UNLIMITED)
        await set_ad_account_budget(session, admin, lifted, now)
        new = NewCampaign(account_id, f"Drawn {n}", MoneyIn(BUDGET, Currency.USD), *flight)
        created = await create_campaign(session, admin, new, config, now)
        await launch_campaign(session, admin, created.campaign_id, config, now)
        campaigns.append(created.campaign_id)
    return campaigns


async def _fund(session: AsyncSession, wallet_id: int) -> None:
    money = Money(int(BUDGET.replace(".", "")), Currency.USD)
    await credit_adjustment(session, wallet_id, money, "benchmark funding", None)


# -- naive: one transaction per event ----------------------------------------------------


async def _naive(engine: AsyncEngine, options: Options) -> float:
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE bench_balances (id int PRIMARY KEY, balance bigint NOT NULL)")
        )
        await conn.execute(
            text("CREATE TABLE bench_events (event_id text PRIMARY KEY, amount bigint)")
        )
        await conn.execute(
            text("INSERT INTO bench_balances SELECT g, 10000000 FROM generate_series(0, :n) g"),
            {"n": CENTERS - 1},
        )
    numbers = iter(range(options.naive_events))
    started = time.perf_counter()
    await asyncio.gather(*(_naive_client(engine, numbers) for _ in range(options.clients)))
    return options.naive_events / (time.perf_counter() - started)


async def _naive_client(engine: AsyncEngine, numbers: Iterator[int]) -> None:
    for n in numbers:
        async with engine.begin() as conn:
            row = {"id": n % CENTERS, "event": f"naive-{n}"}
            await conn.execute(
                text("SELECT balance FROM bench_balances WHERE id = :id FOR UPDATE"), row
            )
            await conn.execute(
                text("UPDATE bench_balances SET balance = balance - 1 WHERE id = :id"), row
            )
            await conn.execute(text("INSERT INTO bench_events VALUES (:event, 1)"), row)


# -- batched, over HTTP ------------------------------------------------------------------


async def _batched(
    base_url: str, token: str, one: int, many: list[int], drawn: list[int], options: Options
) -> dict[str, float]:
    limits = httpx.Limits(max_connections=options.clients)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=120
    ) as client:
        await _send(client, "warmup", [one], options.clients, options)
        cases = {
            "a": ("one account", [one], False),
            "b": ("50 centers", many, False),
            "c": ("automatic center", drawn, False),
            "d": ("mixed", many, True),
        }
        rates = {}
        for tag, (name, campaigns, mixed) in cases.items():
            if tag in options.cases:
                rates[name] = await _send(client, tag, campaigns, options.batches, options, mixed)
        return rates


async def _send(
    client: httpx.AsyncClient,
    tag: str,
    campaigns: list[int],
    batches: int,
    options: Options,
    mixed: bool = False,
) -> float:
    """Events per second for `batches` batches, `options.clients` in flight at a time;
    `mixed`: each batch's events cycle over all `campaigns`, else each batch is one
    campaign's, round-robin. The bodies are encoded before the clock starts: the server is
    measured, not the client sharing its CPUs."""
    make = _mixed_body if mixed else _body
    bodies = iter([make(tag, n, campaigns, options.batch) for n in range(batches)])
    watch = CpuWatch.start()
    started = time.perf_counter()
    await asyncio.gather(*(_client(client, bodies, options.batch) for _ in range(options.clients)))
    elapsed = time.perf_counter() - started
    used = watch.seconds()
    CPU_PER_BATCH[tag] = (used["API processes"] / batches, used["PostgreSQL"] / batches)
    return batches * options.batch / elapsed


def _body(tag: str, number: int, campaigns: list[int], size: int) -> bytes:
    occurred = clock.now().isoformat()
    campaign_id = to_global_id("Campaign", campaigns[number % len(campaigns)])
    events = [_event(f"{tag}-{number}-{i}", campaign_id, occurred) for i in range(size)]
    return json.dumps({"query": RECORD_SPEND, "variables": {"events": events}}).encode()


def _mixed_body(tag: str, number: int, campaigns: list[int], size: int) -> bytes:
    occurred = clock.now().isoformat()
    ids = [to_global_id("Campaign", campaign_id) for campaign_id in campaigns]
    events = [_event(f"{tag}-{number}-{i}", ids[i % len(ids)], occurred) for i in range(size)]
    return json.dumps({"query": RECORD_SPEND, "variables": {"events": events}}).encode()


async def _client(client: httpx.AsyncClient, bodies: Iterator[bytes], size: int) -> None:
    for body in bodies:
        answer = (await client.post("/graphql", content=body)).json()
        result = (answer.get("data") or {}).get("recordSpend") or {}
        if result.get("accepted") != size or result.get("refused"):
            raise SystemExit(f"a batch was not applied whole: {answer}")


def _event(event_id: str, campaign_id: str, occurred: str) -> dict[str, object]:
    amount = {"amount": "0.01", "currencyCode": "USD"}
    return {
        "eventId": event_id,
        "campaignId": campaign_id,
        "amount": amount,
        "impressions": 1,
        "occurredAt": occurred,
    }


# -- checking and reporting --------------------------------------------------------------


async def _check(
    engine: AsyncEngine, options: Options, one: int, many: list[int], drawn: list[int]
) -> None:
    """Every event sent was applied once, to the right campaign, and the ledger is sound."""
    async with make_sessionmaker(engine)() as session:
        rows = await session.execute(text("SELECT id, spent FROM campaigns"))
        spent = dict(rows.all())
        violations = await verify_ledger(session)
    expected = {campaign_id: 0 for campaign_id in [one, *many, *drawn]}
    expected[one] = options.clients * options.batch
    for number in range(options.batches):
        if "a" in options.cases:
            expected[one] += options.batch
        if "b" in options.cases:
            expected[many[number % len(many)]] += options.batch
        if "c" in options.cases:
            expected[drawn[number % len(drawn)]] += options.batch
        for i in range(options.batch if "d" in options.cases else 0):
            expected[many[i % len(many)]] += 1
    if spent != expected or violations:
        raise SystemExit(f"spend went wrong: {spent} vs {expected}; {violations}")


def _report(rates: dict[str, float], options: Options) -> None:
    cpu = ", ".join(
        f"({tag}) {api * 1000:.1f} + {database * 1000:.1f}"
        for tag, (api, database) in CPU_PER_BATCH.items()
        if tag != "warmup"
    )
    print(f"  CPU per batch, ms (API process + PostgreSQL): {cpu}")
    if options.cases != "abcd":
        print(", ".join(f"{name}: {rate:.0f} events/s" for name, rate in rates.items()))
        return
    naive, one, many = rates["naive"], rates["one account"], rates["50 centers"]
    drawn, mixed = rates["automatic center"], rates["mixed"]
    today = datetime.now(UTC).date().isoformat()
    print(
        f"adledger spend benchmark, {today}: {options.clients} clients, batches of "
        f"{options.batch}, {options.batches} batches per case; every event applied once, "
        f"verify-ledger passes\n"
        f"  naive, one transaction per event (SQL)     {naive:9.0f} events/s\n"
        f"  (a) recordSpend, one ad account (HTTP)     {one:9.0f} events/s\n"
        f"  (b) recordSpend, 50 business centers       {many:9.0f} events/s\n"
        f"  (c) recordSpend, 20 accounts of one center {drawn:9.0f} events/s "
        f"(automatic allocation)\n"
        f"  (d) recordSpend, batches mixing 50 centers{mixed:10.0f} events/s\n"
        f"  (a) / naive: {one / naive:.1f}x   (b) / naive: {many / naive:.1f}x   "
        f"(b) / (a): {many / one:.2f}\n"
        f"  (c) / naive: {drawn / naive:.1f}x   (c) / (a): {drawn / one:.2f}\n"
        f"  (d) / naive: {mixed / naive:.1f}x   (d) / (a): {mixed / one:.2f}"
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=8, help="requests in flight")
    parser.add_argument("--batch", type=int, default=500, help="events per recordSpend")
    parser.add_argument("--batches", type=int, default=120, help="batches per case")
    parser.add_argument("--naive-events", type=int, default=8000, help="naive transactions")
    parser.add_argument("--workers", type=int, default=1, help="API processes")
    parser.add_argument("--cases", default="abcd", help="which of a, b, c, d to run")
    return parser.parse_args()


if __name__ == "__main__":
    main()
