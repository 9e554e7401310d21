"""Requests per second of a wallet balance query against `{ __typename }`, over real HTTP.

Absolute requests per second say more about the machine than about adledger; the ratio
of a real read (token lookup, access check, DataLoaders, SQL) to the bare GraphQL/HTTP
round trip, measured on the same server in the same run, is what stays comparable.

    python bench/http_ratio.py [--concurrency 8] [--rounds 5] [--seconds 1.0]

The server runs in its own process (uvicorn, as in production) so that client and server
do not share one interpreter. The two queries alternate round by round and the medians
are compared, so drift (CPU frequency, a noisy neighbour) hits both alike. Databases:
BENCH_DATABASE_ADMIN_URL / BENCH_REDIS_URL, else the local defaults, else embedded
servers under .adledger/. Only loopback traffic.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from _stack import api_process, fresh_database, servers

from adledger import clock
from adledger.app.demo.seed import demo_admin_token, seed_demo
from adledger.schema.ids import to_global_id
from adledger.services.config import BillingConfig
from adledger.store.db import make_engine, make_sessionmaker

TYPENAME = "{ __typename }"
WALLET = '{ wallet(id: "%s") { balance { available { amount } } } }'


@dataclass(frozen=True)
class Options:
    concurrency: int
    rounds: int
    seconds: float
    warmup: float


def main() -> None:
    args = _arguments()
    options = Options(args.concurrency, args.rounds, args.seconds, args.warmup)
    with servers() as (admin_url, redis_url):
        database_url = fresh_database(admin_url)
        wallet_id, token = asyncio.run(_seed(database_url))
        with (
            api_process(database_url, redis_url) as base_url,
            api_process(database_url, redis_url, bare=True) as bare_url,
        ):
            rates = asyncio.run(_measure(base_url, bare_url, token, WALLET % wallet_id, options))
    _report(rates, options)


# -- data ------------------------------------------------------------------------------


async def _seed(database_url: str) -> tuple[str, str]:
    """The demo business center; the query reads its shared wallet as its admin."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            seed = await seed_demo(session, BillingConfig(), clock.now())
            token = await demo_admin_token(session)
            await session.commit()
    finally:
        await engine.dispose()
    return to_global_id("Wallet", seed.center_wallet_id), token


# -- measuring ---------------------------------------------------------------------------


async def _measure(
    base_url: str, bare_url: str, token: str, wallet: str, options: Options
) -> dict[str, float]:
    """Interleaved rounds of: typename and the wallet read on adledger (authenticated),
    typename on the bare app (one server busy at a time)."""
    limits = httpx.Limits(
        max_connections=options.concurrency, max_keepalive_connections=options.concurrency
    )
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as api,
        httpx.AsyncClient(base_url=bare_url, limits=limits, timeout=30) as bare,
    ):
        cases = {"typename": (api, TYPENAME), "wallet": (api, wallet), "bare": (bare, TYPENAME)}
        for client, query in cases.values():
            await _check(client, query)
            await _rate(client, query, options.warmup, options.concurrency)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(options.rounds):
            for name, (client, query) in cases.items():
                samples[name].append(
                    await _rate(client, query, options.seconds, options.concurrency)
                )
    return {name: statistics.median(rates) for name, rates in samples.items()}


async def _check(client: httpx.AsyncClient, query: str) -> None:
    """A benchmark of error responses would measure nothing: fail before measuring."""
    body = (await client.post("/graphql", json={"query": query})).json()
    if "errors" in body or not body.get("data"):
        raise SystemExit(f"{query} failed: {body}")


async def _rate(client: httpx.AsyncClient, query: str, seconds: float, concurrency: int) -> float:
    """Requests per second with `concurrency` requests in flight for `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    started = loop.time()
    counts = await asyncio.gather(
        *(_requests_until(client, query, deadline) for _ in range(concurrency))
    )
    return sum(counts) / (loop.time() - started)


async def _requests_until(client: httpx.AsyncClient, query: str, deadline: float) -> int:
    loop = asyncio.get_running_loop()
    payload = {"query": query}
    count = 0
    while loop.time() < deadline:
        response = await client.post("/graphql", json=payload)
        # A byte search, not a JSON parse: the client must stay cheaper than the server.
        if response.status_code != 200 or b'"errors"' in response.content:
            raise SystemExit(f"request failed: {response.status_code} {response.text}")
        count += 1
    return count


# The targets (issue 11): a wallet read costs at most twice the bare GraphQL round trip,
# and adledger's own per-request overhead keeps `{ __typename }` within a tenth of a bare
# Strawberry app's.
WALLET_TARGET = 0.5
TYPENAME_TARGET = 0.9


def _report(rates: dict[str, float], options: Options) -> None:
    ratio = rates["wallet"] / rates["typename"]
    overhead = rates["typename"] / rates["bare"]
    today = datetime.now(UTC).date().isoformat()
    print(
        f"adledger HTTP benchmark, {today}: concurrency {options.concurrency}, "
        f"{options.rounds} interleaved rounds of {options.seconds:g} s per query, medians\n"
        f"  {{ __typename }}                                       {rates['typename']:8.0f} req/s\n"
        f"  {{ wallet(id) {{ balance {{ available {{ amount }} }} }} }}  "
        f"{rates['wallet']:8.0f} req/s\n"
        f"  {{ __typename }} on a bare Strawberry app              {rates['bare']:8.0f} req/s\n"
        f"  wallet / typename {ratio:.2f} {_target(ratio, WALLET_TARGET)}\n"
        f"  adledger typename / bare typename {overhead:.2f} {_target(overhead, TYPENAME_TARGET)}"
    )


def _target(ratio: float, target: float) -> str:
    return f"(target \u2265 {target:g}: {'met' if ratio >= target else 'NOT met'})"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per query")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per query, unmeasured")
    return parser.parse_args()


if __name__ == "__main__":
    main()
