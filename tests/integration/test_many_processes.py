"""Many processes on one PostgreSQL and one Redis: what holds only because the processes
agree through the database and Redis, never through memory. Every test runs real OS
processes (`adledger serve`, arq workers) against the test database and Redis.

- a cron tick runs once however many workers schedule it (arq's unique job ids,
  `{name}:{tick in ms}`, claimed in Redis);
- walletUpdated reaches subscribers of every API process, whichever process moved the
  money (Redis pub/sub);
- an idempotency key applies once across API processes (the claim is a row in PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq import cron
from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect

from adledger.app.state import wallet_channel as channel_of
from adledger.app.worker import WorkerSettings, startup
from adledger.jobs.ledger import Ctx
from adledger.schema.ids import db_id_of
from tests.helpers import TRANSFER, Api, balance, create_account, create_center
from tests.processes import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
RUNS_TABLE = "many_processes_cron_runs"
STARTED = "started"
DEADLINE_SECONDS = 30.0
TICKS_TO_SEE = 4
# A worker schedules the ticks due after its first poll, which follows its startup by a
# moment (longer on a busy machine): ticks due this long after both started are ones both
# workers scheduled.
SCHEDULING_MARGIN_MS = 2000
SUBSCRIBE = """subscription($id: ID!) {
  walletUpdated(walletId: $id) { id balance { cash { amount } } } }"""
TRANSFER_KEYED = """mutation($input: TransferBalanceInput!) { transferBalance(input: $input) {
  __typename
  ... on TransferBalanceSuccess { from { id balance { cash { amount } } } to { id balance { cash { amount } } } }
  ... on UserError { code message field } } }"""


def wallet_channel(redis_url: str, wallet_id: int) -> str:
    """The wallet's channel as the app names it for this Redis database."""
    return channel_of(wallet_id, int(parse_url(redis_url).get("db") or 0))


# -- the processes -----------------------------------------------------------------------


def _environment(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PAYMENT_PROVIDER": "sandbox",
    }


@contextlib.contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """The command running from the repository root, its output in `log`; stopped with
    SIGTERM (as an orchestrator does) on the way out, killed if it will not stop."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, text=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def apis(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """Two `adledger serve` processes on two ports, started together, shared by the tests
    of this module (each test still starts from empty tables); their base URLs."""
    env, logs = _environment(database_url, redis_url), tmp_path_factory.mktemp("apis")
    with contextlib.ExitStack() as stack:
        started = []
        for n in range(2):
            port, log = free_port(), logs / f"api-{n}.log"
            serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
            command = [sys.executable, "-m", "adledger.app.cli", *serve]
            process = stack.enter_context(_process(command, env, log))
            started.append((f"http://127.0.0.1:{port}", process, log))
        for base, process, log in started:
            try:
                ready = wait_ready(base, process)
            except AssertionError as exc:
                raise AssertionError(f"{base}: {exc}\n{log.read_text()}") from None
            assert ready == {"ready": True, "database": True, "redis": True}
        yield [base for base, _, _ in started]


@pytest.fixture
async def clients(apis: list[str], db: None) -> AsyncIterator[list[Api]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            Api(await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30)))
            for base in apis
        ]


# -- a cron tick runs once across workers --------------------------------------------------


async def _record(ctx: Ctx, tick_ms: int) -> None:
    engine: AsyncEngine = ctx["engine"]
    async with engine.begin() as conn:
        await conn.execute(
            text(f"INSERT INTO {RUNS_TABLE} (tick_ms, job_id, pid) VALUES (:tick, :job, :pid)"),
            {"tick": tick_ms, "job": ctx.get("job_id", STARTED), "pid": os.getpid()},
        )


async def _tick(ctx: Ctx) -> None:
    """The cheapest cron there is: it notes which worker ran which tick. arq names the job
    of a unique cron after its tick, `tick:{unix ms}`: the name says which tick this is."""
    name, _, tick_ms = ctx["job_id"].partition(":")
    await _record(ctx, int(tick_ms) if name == "tick" else -1)


async def _tick_startup(ctx: Ctx) -> None:
    await startup(ctx)
    await _record(ctx, int(time.time() * 1000))


class TickWorkerSettings(WorkerSettings):
    """adledger's worker (its startup, Redis, timezone, result keeping) with one cron that
    fires every second in place of the production schedule, declared as those are:
    `unique` by default, so arq's job id is `tick:{the tick in unix ms}`."""

    cron_jobs = [cron(_tick, name="tick", second=set(range(60)))]
    on_startup = _tick_startup


@pytest.fixture
async def runs_table(engine: AsyncEngine, db: None) -> AsyncIterator[str]:
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS {RUNS_TABLE}"))
        await conn.execute(
            text(
                f"CREATE TABLE {RUNS_TABLE} "
                "(tick_ms bigint NOT NULL, job_id text NOT NULL, pid int NOT NULL)"
            )
        )
    yield RUNS_TABLE
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE {RUNS_TABLE}"))


@dataclass(frozen=True)
class Run:
    tick_ms: int
    job_id: str
    pid: int


async def _runs(engine: AsyncEngine) -> list[Run]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT tick_ms, job_id, pid FROM {RUNS_TABLE}"))
        return [Run(*row) for row in rows]


def _ticks_due_after(runs: list[Run], since_ms: int) -> list[int]:
    return sorted({run.tick_ms for run in runs if run.job_id != STARTED and run.tick_ms > since_ms})


def _logs(folder: Path, pattern: str) -> str:
    return "\n".join(log.read_text() for log in sorted(folder.glob(pattern)))


async def test_a_cron_tick_runs_once_across_two_workers(
    engine: AsyncEngine, runs_table: str, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    # given two worker processes on the same Redis and database, both scheduling every tick
    env = _environment(database_url, redis_url)
    settings = f"{__name__}.{TickWorkerSettings.__name__}"
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(
                _process([sys.executable, "-m", "arq", settings], env, tmp_path / f"w{n}.log")
            )
            for n in range(2)
        ]
        # when several ticks have come due since both started (the last one may be running)
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            runs = await _runs(engine)
            starts = [run.tick_ms for run in runs if run.job_id == STARTED]
            since = max(starts, default=0) + SCHEDULING_MARGIN_MS
            if len(starts) == 2 and len(_ticks_due_after(runs, since)) > TICKS_TO_SEE:
                break
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise AssertionError(f"the workers ran {runs}\n{_logs(tmp_path, 'w*.log')}")
            await asyncio.sleep(0.2)
        pids = {worker.pid for worker in workers}
    # then each tick ran once, and none was skipped
    due = _ticks_due_after(runs, since)[:TICKS_TO_SEE]
    ran = [run for run in runs if run.tick_ms in due]
    assert Counter(run.tick_ms for run in ran) == dict.fromkeys(due, 1)
    assert {run.pid for run in runs} <= pids
    seconds = [tick // 1000 for tick in due]
    assert seconds == list(range(seconds[0], seconds[0] + TICKS_TO_SEE))


# -- walletUpdated across API processes ----------------------------------------------------


async def _open(ws: ClientConnection, token: str, wallet_id: str) -> None:
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
    await ws.send(json.dumps(init))
    assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10)) == {"type": "connection_ack"}
    message = {"query": SUBSCRIBE, "variables": {"id": wallet_id}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": message}))


async def _wait_for_subscribers(redis_url: str, channel: str, count: int) -> None:
    """Until `count` Redis connections (one hub per API process) listen on the channel."""
    client = Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while (await client.pubsub_numsub(channel))[0][1] < count:
            assert time.monotonic() < deadline, f"never {count} subscribers on {channel}"
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


def _transfer(center: Any, account: Any, amount: str, key: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "fromWalletId": center.wallet_id,
        "toWalletId": account.wallet_id,
        "amount": {"amount": amount, "currencyCode": "USD"},
    }
    if key is not None:
        payload["idempotencyKey"] = key
    return {"input": payload}


async def test_wallet_updated_reaches_subscribers_of_every_api_process(
    clients: list[Api], apis: list[str], users: Any, redis_url: str
) -> None:
    # given a funded center and an ad account whose wallet has a subscriber on each process
    admin = await users.create("admin")
    center = await create_center(clients[0], admin)
    account = await create_account(clients[0], center)
    await users.fund(center.wallet_id, "50.00")
    channel = wallet_channel(redis_url, db_id_of(account.wallet_id, "Wallet") or 0)
    sockets = [f"ws{base.removeprefix('http')}/graphql" for base in apis]
    async with contextlib.AsyncExitStack() as stack:
        subscribers = [
            await stack.enter_async_context(connect(url, subprotocols=["graphql-transport-ws"]))
            for url in sockets
        ]
        for ws in subscribers:
            await _open(ws, admin.token, account.wallet_id)
        await _wait_for_subscribers(redis_url, channel, 2)
        # when the money moves through the second process only
        moved = await clients[1].data(TRANSFER, _transfer(center, account, "20.00"), admin.token)
        assert moved["transferBalance"]["__typename"] == "TransferBalanceSuccess", moved
        # then the subscriber of each process sees the new balance
        messages = [json.loads(await asyncio.wait_for(ws.recv(), timeout=10)) for ws in subscribers]
    wallet = {"id": account.wallet_id, "balance": {"cash": {"amount": "20.00"}}}
    expected = {"id": "1", "type": "next", "payload": {"data": {"walletUpdated": wallet}}}
    assert messages == [expected, expected]


# -- idempotency keys across API processes -------------------------------------------------


async def test_an_idempotency_key_applies_once_across_api_processes(
    clients: list[Api], users: Any
) -> None:
    # given a center with 100.00 and an ad account
    admin = await users.create("admin")
    center = await create_center(clients[0], admin)
    account = await create_account(clients[0], center)
    await users.fund(center.wallet_id, "100.00")
    # when each of five keys is sent four times at once, twice to each process
    senders = [*clients, *clients]
    for n in range(5):
        variables = _transfer(center, account, "1.00", key=f"transfer-{n}")
        answers = await asyncio.gather(
            *(api.data(TRANSFER_KEYED, variables, admin.token) for api in senders)
        )
        # then every answer is the first one
        assert answers[0]["transferBalance"]["__typename"] == "TransferBalanceSuccess", answers
        assert answers == [answers[0]] * len(senders)
    # and each key moved the money once
    assert (await balance(clients[1], account.wallet_id, admin.token))["cash"] == {"amount": "5.00"}
    assert (await balance(clients[0], center.wallet_id, admin.token))["cash"] == {"amount": "95.00"}
    # and the same key with another input is refused by either process
    for api in clients:
        other = _transfer(center, account, "2.00", key="transfer-0")
        refused = (await api.data(TRANSFER_KEYED, other, admin.token))["transferBalance"]
        assert refused["__typename"] == "IdempotencyKeyReusedError", refused
        assert refused["code"] == "IDEMPOTENCY_KEY_REUSED"
        assert refused["field"] == ["input", "idempotencyKey"]
    assert (await balance(clients[0], account.wallet_id, admin.token))["cash"] == {"amount": "5.00"}
