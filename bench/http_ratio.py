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
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from adledger.app.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    postgres_reachable,
    redis_reachable,
)
from adledger.app.settings import Settings
from adledger.schema.ids import to_global_id
from adledger.services.config import BillingConfig
from adledger.services.demo import demo_admin_token, seed_demo
from adledger.store.db import make_engine, make_sessionmaker
from adledger.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "adledger_bench"
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
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
    if args.serve_port:
        _serve(args.serve_port)
        return
    options = Options(args.concurrency, args.rounds, args.seconds, args.warmup)
    with _servers() as (admin_url, redis_url):
        database_url = _fresh_database(admin_url)
        wallet_id, token = asyncio.run(_seed(database_url))
        with _api_process(database_url, redis_url) as base_url:
            rates = asyncio.run(_measure(base_url, token, WALLET % wallet_id, options))
    _report(rates, options)


# -- servers and data --------------------------------------------------------------------


@contextlib.contextmanager
def _servers() -> Iterator[tuple[str, str]]:
    """The configured or local servers when they answer, else embedded ones."""
    admin_url = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    with contextlib.ExitStack() as stack:
        if not postgres_reachable(admin_url):
            postgres = EmbeddedPostgres.start(ROOT / ".adledger" / "bench-pg", "postgres")
            stack.callback(postgres.stop)
            admin_url = postgres.url
        if not redis_reachable(redis_url):
            redis = EmbeddedRedis.start(ROOT / ".adledger" / "bench-redis")
            stack.callback(redis.stop)
            redis_url = redis.url
        yield admin_url, redis_url


def _fresh_database(admin_url: str) -> str:
    asyncio.run(_recreate_database(admin_url))
    url = make_url(admin_url).set(database=BENCH_DATABASE).render_as_string(False)
    upgrade(url)
    return url


async def _recreate_database(admin_url: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
    finally:
        await engine.dispose()


async def _seed(database_url: str) -> tuple[str, str]:
    """The demo business center; the query reads its shared wallet as its admin."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            seed = await seed_demo(session, BillingConfig(), datetime.now(UTC))
            token = await demo_admin_token(session)
            await session.commit()
    finally:
        await engine.dispose()
    return to_global_id("Wallet", seed.center_wallet_id), token


# -- the API process ---------------------------------------------------------------------


def _serve(port: int) -> None:
    import uvicorn

    from adledger.app.asgi import create_app

    app = create_app(Settings())  # DATABASE_URL and REDIS_URL come from the parent
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextlib.contextmanager
def _api_process(database_url: str, redis_url: str) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    env["PAYMENT_PROVIDER"] = "sandbox"  # a benchmark takes no payments
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-port", str(port)]
    process = subprocess.Popen(command, env=env)
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_up(base_url, process)
        yield base_url
    finally:
        process.terminate()  # SIGTERM: uvicorn shuts down gracefully
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the API process exited before it answered")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit("the API did not become ready within 30 s")


# -- measuring ---------------------------------------------------------------------------


async def _measure(base_url: str, token: str, wallet: str, options: Options) -> dict[str, float]:
    queries = {"typename": TYPENAME, "wallet": wallet}
    limits = httpx.Limits(
        max_connections=options.concurrency, max_keepalive_connections=options.concurrency
    )
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30
    ) as client:
        for query in queries.values():
            await _check(client, query)
            await _rate(client, query, options.warmup, options.concurrency)
        samples: dict[str, list[float]] = {name: [] for name in queries}
        for _ in range(options.rounds):
            for name, query in queries.items():
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


def _report(rates: dict[str, float], options: Options) -> None:
    ratio = rates["wallet"] / rates["typename"]
    today = datetime.now(UTC).date().isoformat()
    print(
        f"adledger HTTP benchmark, {today}: concurrency {options.concurrency}, "
        f"{options.rounds} interleaved rounds of {options.seconds:g} s per query, medians\n"
        f"  {{ __typename }}                                       {rates['typename']:8.0f} req/s\n"
        f"  {{ wallet(id) {{ balance {{ available {{ amount }} }} }} }}  "
        f"{rates['wallet']:8.0f} req/s\n"
        f"  ratio wallet / typename: {ratio:.2f}"
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per query")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per query, unmeasured")
    parser.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    main()
