"""Wallet-read latency with no webhook delivery running, against while a deliver-webhooks
pass posts to 20 endpoints that never answer (issue 26: "a receiver that hangs costs the
API nothing").

    python bench/webhooks.py [--rounds 5] [--seconds 3] [--concurrency 4]

The API runs in its own process (uvicorn, as in production); each delivery pass is a real
`adledger jobs run deliver-webhooks` process, as the worker would run it; the receiver
(in a thread of this process) accepts every connection, reads the request and never
answers, so every pass holds 80 posts open (4 per endpoint) until their 10 s timeout.
Rounds alternate: wallet reads alone, then wallet reads while a pass hangs; between rounds
the messages are made due again. Reported: the median latency of each phase over all its
rounds and their ratio. Nothing is asserted: the figures depend on the machine (2 shared
cores put the pass's process and the API's on the same CPUs). Databases as for
bench/http_ratio.py; the database is `adledger_bench_webhooks`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from _stack import api_process, fresh_database, servers
from sqlalchemy import text

from adledger import clock
from adledger.app.demo.seed import demo_admin_token, seed_demo
from adledger.domain.events import EventType
from adledger.schema.ids import to_global_id
from adledger.services import events
from adledger.services.config import BillingConfig
from adledger.services.webhook_signing import generate_secret
from adledger.store.db import make_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "adledger_bench_webhooks"
ENDPOINTS = 20
EVENTS = 20
IN_FLIGHT = 4 * ENDPOINTS  # the per-endpoint cap, for every endpoint
WALLET = '{ wallet(id: "%s") { balance { available { amount } } } }'


@dataclass(frozen=True)
class Options:
    rounds: int
    seconds: float
    concurrency: int


def main() -> None:
    args = _arguments()
    options = Options(args.rounds, args.seconds, args.concurrency)
    receiver = HangingReceiver()
    receiver.start()
    with servers() as (admin_url, redis_url):
        database_url = fresh_database(admin_url, DATABASE)
        wallet_id, token = asyncio.run(_seed(database_url, receiver.port))
        with api_process(database_url, redis_url) as base_url:
            env = _job_environment(database_url, redis_url)
            samples = asyncio.run(
                _measure(base_url, token, WALLET % wallet_id, database_url, env, receiver, options)
            )
    _report(samples, options)


# -- data ------------------------------------------------------------------------------


async def _seed(database_url: str, port: int) -> tuple[str, str]:
    """The demo center, 20 events of it numbered, and 20 endpoints of every type."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    now = clock.now()
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            seed = await seed_demo(session, BillingConfig(), now)
            token = await demo_admin_token(session)
            await session.commit()
        center = seed.business_center_id
        async with sessions() as session:
            for n in range(EVENTS):
                data = {"id": to_global_id("Test", n)}
                await events.record(session, center, EventType.CARD_SAVED, "Test", n, data, now)
            await session.commit()
        async with sessions() as session:
            await events.sequence(session, center)
            for n in range(ENDPOINTS):
                await session.execute(_ENDPOINT, _endpoint(center, port, n, now))
            await session.commit()
    finally:
        await engine.dispose()
    return to_global_id("Wallet", seed.center_wallet_id), token


_ENDPOINT = text(
    "INSERT INTO webhook_endpoints (business_center_id, url, status, secret, cursor, "
    "created_at, updated_at) VALUES (:center, :url, 'ENABLED', :secret, 0, :now, :now)"
)


def _endpoint(center: int, port: int, n: int, now: datetime) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}/hooks/{n}"
    return {"center": center, "url": url, "secret": generate_secret(), "now": now}


# Every message due again, as if never tried (and no endpoint failing): each pass then
# holds IN_FLIGHT posts open, and no endpoint reaches its 3 days.
_MESSAGES_DUE = text(
    "UPDATE webhook_messages SET status = 'PENDING', attempts = 0, leased_until = NULL, "
    "next_attempt_at = :at"
)
_ENDPOINTS_HEALTHY = text("UPDATE webhook_endpoints SET failing_since = NULL")


async def _due_again(database_url: str, at: datetime) -> None:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            await session.execute(_MESSAGES_DUE, {"at": at})
            await session.execute(_ENDPOINTS_HEALTHY)
            await session.commit()
    finally:
        await engine.dispose()


# -- the receiver that never answers -----------------------------------------------------


class HangingReceiver:
    """Reads each request and answers nothing, on its own event loop in a thread; counts
    the requests it holds."""

    def __init__(self) -> None:
        self.port = 0
        self.requests = 0
        self._ready = threading.Event()

    def start(self) -> None:
        threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True).start()
        self._ready.wait(10)

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._hold, "127.0.0.1", 0, backlog=512)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await server.serve_forever()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            await reader.read()  # until the client gives up and closes
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def wait_for(self, count: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.requests < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


# -- measuring ---------------------------------------------------------------------------


def _job_environment(database_url: str, redis_url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    # A benchmark takes no payments; its receiver is on 127.0.0.1 over http.
    return env | {"PAYMENT_PROVIDER": "sandbox", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1"}


async def _measure(
    base_url: str,
    token: str,
    query: str,
    database_url: str,
    env: dict[str, str],
    receiver: HangingReceiver,
    options: Options,
) -> dict[str, list[float]]:
    """Alternating rounds: reads alone, then reads while a pass holds its posts open."""
    samples: dict[str, list[float]] = {"alone": [], "delivering": []}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        await _latencies(client, query, 1.0, options.concurrency)  # warm-up, unmeasured
        for round_ in range(options.rounds):
            samples["alone"] += await _latencies(
                client, query, options.seconds, options.concurrency
            )
            at = clock.now() + timedelta(minutes=round_)
            await _due_again(database_url, at)
            held = receiver.requests
            job = _start_pass(at, env)
            try:
                if not await asyncio.to_thread(receiver.wait_for, held + IN_FLIGHT, 30.0):
                    raise SystemExit("the delivery pass did not hold its posts open")
                samples["delivering"] += await _latencies(
                    client, query, options.seconds, options.concurrency
                )
            finally:
                await asyncio.to_thread(job.wait, 120)
            print(f"round {round_ + 1}/{options.rounds}, so far: {_line(samples)}", file=sys.stderr)
    return samples


def _start_pass(at: datetime, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "adledger.app.cli", "jobs", "run", "deliver-webhooks"]
    command += ["--now", at.isoformat()]
    return subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def _latencies(
    client: httpx.AsyncClient, query: str, seconds: float, concurrency: int
) -> list[float]:
    """Each wallet read's latency (ms), `concurrency` readers for `seconds`."""
    deadline = time.monotonic() + seconds
    found: list[float] = []

    async def reader() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await client.post("/graphql", json={"query": query})
            found.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or b'"errors"' in response.content:
                raise SystemExit(f"request failed: {response.status_code} {response.text}")

    await asyncio.gather(*(reader() for _ in range(concurrency)))
    return found


def _line(samples: dict[str, list[float]]) -> str:
    medians = {name: statistics.median(values) for name, values in samples.items() if values}
    return ", ".join(f"{name} median {ms:.1f} ms" for name, ms in medians.items())


def _report(samples: dict[str, list[float]], options: Options) -> None:
    alone = statistics.median(samples["alone"])
    delivering = statistics.median(samples["delivering"])
    today = datetime.now(UTC).date().isoformat()
    print(
        f"adledger webhook delivery benchmark, {today}: {options.rounds} alternating rounds "
        f"of {options.seconds:g} s, {options.concurrency} readers; a pass holding "
        f"{IN_FLIGHT} posts open to {ENDPOINTS} endpoints that never answer\n"
        f"  wallet read, no delivery      median {alone:7.1f} ms ({len(samples['alone'])} reads)\n"
        f"  wallet read, during delivery  median {delivering:7.1f} ms "
        f"({len(samples['delivering'])} reads)\n"
        f"  during / alone {delivering / alone:.2f}"
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each phase")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one phase")
    parser.add_argument("--concurrency", type=int, default=4, help="readers in flight")
    return parser.parse_args()


if __name__ == "__main__":
    main()
