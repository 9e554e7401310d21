"""Python function calls per request, counted by cProfile: a CPU figure that, unlike a rate,
does not move with the machine's load, for comparing two versions of the code.

    python bench/calls.py [--requests 20]

In one process, on a freshly migrated database seeded with the demo, through the ASGI app
(`create_app`, with its lifespan) over httpx's in-process transport:
- `{ wallet(id) { balance { available { amount } } } }` as the demo admin (the read that
  `make bench` times), and `{ __typename }` beside it;
- `recordSpend` batches of 500 events of 0.01, alternating over the demo's two delivering
  campaigns (one paid from its reserve, one drawing on an automatic center), as its ad
  server.
Each is warmed up first, then profiled over `--requests` requests. The counts are the same
from run to run within a few calls (asyncio's scheduling), so a change of a fraction of a
per cent is a change of the code: run it on both versions and compare. Calls are not time
(a call into C costs less than one in Python), but a code path that does more per event
shows here first.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from _stack import fresh_database, servers

from adledger import clock
from adledger.app.asgi import create_app
from adledger.app.demo import seed as demo
from adledger.app.settings import Settings
from adledger.schema.ids import to_global_id
from adledger.services.config import BillingConfig
from adledger.store.db import make_engine, make_sessionmaker

WALLET = '{ wallet(id: "%s") { balance { available { amount } } } }'
RECORD_SPEND = (
    "mutation($events: [SpendEventInput!]!) { recordSpend(input: {events: $events}) "
    "{ __typename ... on RecordSpendSuccess { accepted } ... on UserError { code } } }"
)
BATCH = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="profiled per case")
    requests = parser.parse_args().requests
    os.environ["PAYMENT_PROVIDER"] = "sandbox"  # a benchmark takes no payments
    with servers() as (admin_url, redis_url):
        database_url = fresh_database(admin_url)
        counts = asyncio.run(_count(database_url, redis_url, requests))
    print(f"adledger call counts: Python function calls per request, {requests} profiled")
    for case, calls in counts.items():
        print(f"  {case:<44} {calls:>9,}")


async def _count(database_url: str, redis_url: str, requests: int) -> dict[str, int]:
    seeded = await _seed(database_url)
    os.environ.update(DATABASE_URL=database_url, REDIS_URL=redis_url)
    # The budgets are per minute; a profile must not be cut short by one.
    os.environ.update(RATE_LIMIT_POINTS="1000000000", RATE_LIMIT_INTEGRATION_POINTS="1000000000")
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            return await _cases(client, seeded, requests)


async def _seed(database_url: str) -> dict[str, Any]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            seed = await demo.seed_demo(session, BillingConfig(), clock.now())
            await session.commit()
        async with make_sessionmaker(engine)() as session:
            admin = await demo.demo_admin_token(session)
            adserver = await demo.demo_adserver_token(session)
            campaigns = await demo.delivering_campaign_ids(session)
            await session.commit()
    finally:
        await engine.dispose()
    return {
        "wallet": to_global_id("Wallet", seed.center_wallet_id),
        "admin": admin,
        "adserver": adserver,
        "campaigns": [to_global_id("Campaign", c) for c in campaigns.values()],
    }


async def _cases(
    client: httpx.AsyncClient, seeded: dict[str, Any], requests: int
) -> dict[str, int]:
    admin = {"Authorization": f"Bearer {seeded['admin']}"}
    adserver = {"Authorization": f"Bearer {seeded['adserver']}"}
    wallet = {"query": WALLET % seeded["wallet"]}
    typename = {"query": "{ __typename }"}
    batches = iter(range(1_000_000))

    def spend() -> dict[str, Any]:
        return _batch(f"b{next(batches)}", seeded["campaigns"])

    return {
        "wallet read": await _profiled(client, lambda: wallet, admin, requests, _read_ok),
        "{ __typename }": await _profiled(client, lambda: typename, admin, requests, _read_ok),
        f"recordSpend, a batch of {BATCH}": await _profiled(
            client, spend, adserver, requests, _all_accepted
        ),
    }


async def _profiled(
    client: httpx.AsyncClient,
    body: Callable[[], dict[str, Any]],
    headers: dict[str, str],
    requests: int,
    check: Callable[[dict[str, Any]], None],
) -> int:
    async def send() -> None:
        check((await client.post("/graphql", json=body(), headers=headers)).json())

    await _repeat(send, 3)  # warm: the token cache, prepared statements, imports
    profile = cProfile.Profile()
    profile.enable()
    await _repeat(send, requests)
    profile.disable()
    return int(pstats.Stats(profile).total_calls) // requests  # type: ignore[attr-defined]


async def _repeat(send: Callable[[], Awaitable[None]], times: int) -> None:
    for _ in range(times):
        await send()


def _read_ok(answer: dict[str, Any]) -> None:
    if "errors" in answer:
        raise SystemExit(f"the read failed: {answer['errors']}")


def _all_accepted(answer: dict[str, Any]) -> None:
    result = (answer.get("data") or {}).get("recordSpend") or {}
    if result.get("accepted") != BATCH:
        raise SystemExit(f"a batch was not applied in full: {str(answer)[:300]}")


def _batch(tag: str, campaigns: list[str]) -> dict[str, Any]:
    # Dated just ahead of now (within the allowed clock skew): a campaign launched by the
    # seed a moment ago refuses spend from before its launch.
    occurred = (clock.now() + timedelta(seconds=20)).isoformat()
    events = [
        {
            "eventId": f"{tag}-{n}",
            "campaignId": campaigns[n % len(campaigns)],
            "amount": {"amount": "0.01", "currencyCode": "USD"},
            "impressions": 1,
            "occurredAt": occurred,
        }
        for n in range(BATCH)
    ]
    return {"query": RECORD_SPEND, "variables": {"events": events}}


if __name__ == "__main__":
    main()
