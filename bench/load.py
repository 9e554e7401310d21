"""A mixed load on many processes: two API processes and two workers on one database.

    python bench/load.py [--seconds 30] [--concurrency 2] [--centers 20] [--batch 100]

Wallet reads, top-ups paid through the signed webhook, campaign launches and recordSpend
batches at once, then `adledger verify-ledger`; see bench/README.md. Exits non-zero when
a request failed or the ledger does not verify. Logs: .adledger/load/.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from _cpu import CpuWatch, describe
from _http import Connection
from _shared import (
    WEBHOOK_PATH,
    Shop,
    field_value,
    mutation,
    paid_webhook,
    percentile,
    shop,
    verify_ledger,
    webhook_processed,
)
from _stack import ROOT, api_process, fresh_database, servers, worker_processes
from redis.asyncio import Redis

from adledger import clock
from adledger.payments.sandbox import SandboxProvider
from adledger.services import users
from adledger.services.actor import Actor
from adledger.store import users as user_repo
from adledger.store.db import make_engine, make_sessionmaker

LOAD_DATABASE = "adledger_load"
LOAD_REDIS_URL = "redis://127.0.0.1:6379/13"
LOGS = ROOT / ".adledger" / "load"
USD = "USD"
WALLET = "query($id: ID!) { wallet(id: $id) { balance { available { amount } cash { amount } } } }"


TOP_UP = mutation("topUpWallet", "topUp { invoice { paymentReference } }")
CREATE_CAMPAIGN = mutation("createCampaign", "campaign { id }")
LAUNCH_CAMPAIGN = mutation("launchCampaign", "campaign { status }")
RECORD_SPEND = (
    "mutation($events: [SpendEventInput!]!) { recordSpend(input: {events: $events}) "
    "{ __typename ... on RecordSpendSuccess { accepted refused { eventId } } "
    "... on UserError { code message } } }"
)
WEBHOOK = "webhook invoice.paid"
KINDS = ["wallet", "topUpWallet", WEBHOOK, "createCampaign", "launchCampaign", "recordSpend"]


@dataclass(frozen=True)
class Seed:
    admin_token: str
    adserver_token: str
    shops: list[Shop]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: int = 0
    first_error: str | None = None


@dataclass
class Load:  # what every client shares
    base_url: str
    sandbox: SandboxProvider
    seed: Seed
    options: argparse.Namespace
    until: float
    tallies: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})

    def record(self, kind: str, seconds: float, problem: str | None) -> None:
        tally = self.tallies[kind]
        if problem is None:
            tally.latencies.append(seconds)
        else:
            tally.errors += 1
            tally.first_error = tally.first_error or problem


def main() -> int:
    options = _arguments()
    LOGS.mkdir(parents=True, exist_ok=True)
    with servers(LOAD_REDIS_URL) as (admin_url, redis_url):
        with redis.Redis.from_url(redis_url) as client:
            client.flushdb()  # the benchmark's own Redis database
        database_url = fresh_database(admin_url, LOAD_DATABASE)
        seed = asyncio.run(_seed(database_url, options.centers))
        with (
            api_process(database_url, redis_url, 2, log=LOGS / "api.log") as base_url,
            worker_processes(database_url, redis_url, 2, LOGS),
        ):
            watch = CpuWatch.start()
            tallies, elapsed = asyncio.run(_drive(base_url, redis_url, seed, options))
            cores = watch.cores()
        _report(tallies, elapsed, options)
        print(describe(cores))
        verified = verify_ledger(database_url)  # everything stopped, servers still up
    failed = any(tally.errors for tally in tallies.values())
    return verified or int(failed)


# -- data --------------------------------------------------------------------------------


async def _seed(database_url: str, count: int) -> Seed:
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            now = clock.now()
            token = await users.create_user(session, "load@example.com")
            user = await user_repo.user_by_email(session, "load@example.com")
            assert user is not None
            admin = Actor(user.id, user.email, user.is_staff)
            shops = [await shop(session, admin, n, now) for n in range(count)]
            adserver = await users.create_user(session, "adserver@example.com", is_integration=True)
            await session.commit()
    finally:
        await engine.dispose()
    return Seed(token, adserver, shops)


# -- the load ----------------------------------------------------------------------------


async def _drive(
    base_url: str, redis_url: str, seed: Seed, options: argparse.Namespace
) -> tuple[dict[str, Tally], float]:
    steps = [_read_wallet, _top_up, _launch, _spend]
    async with Redis.from_url(redis_url) as sandbox_redis:
        until = time.monotonic() + options.seconds
        load = Load(base_url, SandboxProvider(sandbox_redis), seed, options, until)
        loops = [
            _loop(load, step, f"{step.__name__}-{n}")
            for step in steps
            for n in range(options.concurrency)
        ]
        started = time.monotonic()
        await asyncio.gather(_progress(load), *loops)
        return load.tallies, time.monotonic() - started


Step = Callable[[Load, random.Random, str], Awaitable[None]]
Check = Callable[[int, dict[str, Any]], tuple[str | None, Any]]


# Each client loop's own keep-alive connection (bench/_http.py: httpx spent about a
# millisecond of this process's CPU per request, a quarter of the 2 vCPUs the API shares
# with it, and set the pace).
_CONNECTION: ContextVar[Connection] = ContextVar("connection")


async def _loop(load: Load, step: Step, tag: str) -> None:
    rng = random.Random(tag)
    _CONNECTION.set(await Connection.open(load.base_url, {}))
    n = 0
    try:
        while time.monotonic() < load.until:
            await step(load, rng, f"{tag}-{n}")
            n += 1
    finally:
        await _CONNECTION.get().close()


async def _post(
    load: Load, kind: str, path: str, check: Check, body: bytes, headers: dict[str, str]
) -> Any:
    """One request, timed and tallied; answers what `check` made of it, None if it failed."""
    connection = _CONNECTION.get()
    started = time.perf_counter()
    try:
        status, answer = await connection.post(path, body, headers)
        problem, value = check(status, json.loads(answer))
    except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError) as exc:
        problem, value = f"{type(exc).__name__}: {exc}", None
        await connection.close()  # what is left to read on it is unknown
        _CONNECTION.set(await Connection.open(load.base_url, {}))
    load.record(kind, time.perf_counter() - started, problem)
    return None if problem else value


async def _graphql(load: Load, name: str, token: str, query: str, variables: Any) -> Any:
    """The value of the root field `name` (also the kind tallied) when it succeeded."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"Authorization": f"Bearer {token}"}
    check = functools.partial(field_value, name)
    return await _post(load, name, "/graphql", check, body, headers)


async def _read_wallet(load: Load, rng: random.Random, _: str) -> None:
    shop = rng.choice(load.seed.shops)
    wallet = rng.choice([shop.center_wallet, shop.account_wallet])
    await _graphql(load, "wallet", load.seed.admin_token, WALLET, {"id": wallet})


async def _top_up(load: Load, rng: random.Random, _: str) -> None:
    """A top-up, then the customer pays it: Stripe's signed `invoice.paid` to the webhook."""
    amount = {"amount": "100.00", "currencyCode": USD}
    variables = {"input": {"walletId": rng.choice(load.seed.shops).center_wallet, "amount": amount}}
    result = await _graphql(load, "topUpWallet", load.seed.admin_token, TOP_UP, variables)
    if result is None:
        return
    reference = result["topUp"]["invoice"]["paymentReference"]
    payload, headers = await paid_webhook(load.sandbox, reference)
    await _post(load, WEBHOOK, WEBHOOK_PATH, webhook_processed, payload, headers)


async def _launch(load: Load, rng: random.Random, tag: str) -> None:
    """Starting in 20 s: the workers' start_campaigns job makes it deliver."""
    starts = clock.now() + timedelta(seconds=20)
    budget = {"amount": "50.00", "currencyCode": USD}
    flight = {"startsAt": starts.isoformat(), "endsAt": (starts + timedelta(days=7)).isoformat()}
    new = {"adAccountId": rng.choice(load.seed.shops).account, "name": tag, "budget": budget}
    new.update(flight)
    token = load.seed.admin_token
    created = await _graphql(load, "createCampaign", token, CREATE_CAMPAIGN, {"input": new})
    if created is not None:
        launch = {"input": {"campaignId": created["campaign"]["id"]}}
        await _graphql(load, "launchCampaign", token, LAUNCH_CAMPAIGN, launch)


async def _spend(load: Load, rng: random.Random, tag: str) -> None:
    campaign = rng.choice(load.seed.shops).campaign
    amount = {"amount": "0.01", "currencyCode": USD}
    occurred = clock.now().isoformat()
    event = {"campaignId": campaign, "amount": amount, "impressions": 1, "occurredAt": occurred}
    events = [{**event, "eventId": f"{tag}-{i}"} for i in range(load.options.batch)]
    token = load.seed.adserver_token
    await _graphql(load, "recordSpend", token, RECORD_SPEND, {"events": events})


async def _progress(load: Load) -> None:
    """A text bar on stderr, redrawn twice a second."""
    total = load.options.seconds
    started = load.until - total
    while (now := time.monotonic()) < load.until:
        _draw(load, now - started, total)
        await asyncio.sleep(0.5)
    _draw(load, total, total)
    print(file=sys.stderr)


def _draw(load: Load, done: float, total: float) -> None:
    width = 30
    filled = min(width, int(width * done / total))
    bar = "#" * filled + "." * (width - filled)
    answered = sum(len(tally.latencies) for tally in load.tallies.values())
    errors = sum(tally.errors for tally in load.tallies.values())
    line = f"\r[{bar}] {done:4.0f}/{total:.0f} s  {answered:,} requests  {errors} errors"
    print(line, end="", file=sys.stderr, flush=True)


# -- reporting ---------------------------------------------------------------------------


def _report(tallies: dict[str, Tally], elapsed: float, options: argparse.Namespace) -> None:
    today = datetime.now(UTC).date().isoformat()
    print(
        f"adledger load, {today}: {elapsed:.1f} s; 2 API processes (serve --workers 2), "
        f"2 workers; clients per operation: {options.concurrency} "
        f"({4 * options.concurrency} in flight); {options.centers} business centers; "
        f"recordSpend batches of {options.batch} events"
    )
    print(f"  {'request':<22}{'count':>8}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind, tally in tallies.items():
        count = len(tally.latencies)
        p50, p99 = (1000 * percentile(tally.latencies, q) for q in (0.5, 0.99))
        print(
            f"  {kind:<22}{count:>8}{count / elapsed:>9.1f}{p50:>9.1f}{p99:>9.1f}{tally.errors:>8}"
        )
    events = len(tallies["recordSpend"].latencies) * options.batch
    print(f"  spend events applied: {events:,} ({events / elapsed:,.0f} events/s)")
    for kind, tally in tallies.items():
        if tally.first_error:
            print(f"  first {kind} error: {tally.first_error}", file=sys.stderr)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=30, help="how long to drive the load")
    parser.add_argument("--concurrency", type=int, default=2, help="clients per operation")
    parser.add_argument("--centers", type=int, default=20, help="business centers seeded")
    parser.add_argument("--batch", type=int, default=100, help="events per recordSpend")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
