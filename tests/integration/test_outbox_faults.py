"""Crashes around an effect (services/effects.py) lose nothing and double nothing: real
processes are killed (SIGKILL, at a fault point: adledger/faults.py) right after the
commit that declared an invoice, and in the middle of the worker's effect; the run-outbox
job then issues the invoice at the provider exactly once, and the ledger verifies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.jobs.outbox import run_outbox_job
from adledger.payments.sandbox import PREFIX, SandboxProvider
from adledger.services.config import BillingConfig
from adledger.services.effect_kinds import ISSUE_INVOICE
from adledger.services.verify import verify_ledger
from adledger.store.db import transaction_runner
from adledger.store.models import Invoice, OutboxEffect
from tests.helpers import Api, create_center, subscribe, top_up
from tests.processes import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]


def _environment(database_url: str, redis_url: str, fault: str | None) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    env["PAYMENT_PROVIDER"] = "sandbox"
    env.pop("ADLEDGER_FAULT", None)
    return env | ({"ADLEDGER_FAULT": fault} if fault else {})


@contextlib.contextmanager
def _serve(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    command = [sys.executable, "-m", "adledger.app.cli", "serve", "--port", str(port)]
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=output)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, process)
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture
async def worker(sessions: async_sessionmaker[AsyncSession], redis_url: str) -> AsyncIterator[Any]:
    """A worker's ctx, in this process: the run-outbox job runs in it."""
    redis = Redis.from_url(redis_url)
    yield {
        "transact": transaction_runner(sessions),
        "provider": SandboxProvider(redis),
        "billing": BillingConfig(),
        "redis": redis,
    }
    await redis.aclose()


async def _invoices_at_provider(redis: Redis) -> int:
    return len(await redis.keys(f"{PREFIX}:invoice:*"))


async def _top_up_row(sessions: async_sessionmaker[AsyncSession]) -> tuple[Invoice, OutboxEffect]:
    """The top-up's invoice and its issue (its partner event was numbered by the commit
    itself: nothing is left to number)."""
    async with sessions() as session:
        invoice = (await session.scalars(select(Invoice).where(Invoice.kind == "TOP_UP"))).one()
        issue = select(OutboxEffect).where(OutboxEffect.kind == ISSUE_INVOICE)
        effect = (await session.scalars(issue)).one()
        return invoice, effect


async def _verified(sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    async with sessions() as session:
        return list(await verify_ledger(session))


async def _a_top_up_killed_after_its_commit(
    api: Api, users: Any, env: dict[str, str], log: Path
) -> Any:
    """A center subscribed (through a healthy API: its commit declared effects too) asks an
    API process for a top-up (idempotency key "k"); the process commits it, with its
    invoice's effect declared, and is SIGKILLed before running the effect. Answers the
    center."""
    center = await create_center(api, await users.create("admin"))
    await users.fund(center.wallet_id, "399.00")
    assert (await subscribe(api, center))["__typename"] == "SubscribeToPlanSuccess"
    with _serve(env, log) as (base, process):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            with pytest.raises(httpx.TransportError):
                await top_up(
                    Api(client), center.wallet_id, center.admin.token, amount="50.00", key="k"
                )
        assert process.wait(timeout=30) == -signal.SIGKILL
    return center


async def _nothing_issued_yet(sessions: Any, worker: Any) -> None:
    invoice, effect = await _top_up_row(sessions)
    assert (invoice.payment_reference, effect.done_at, effect.attempts) == (None, None, 0)
    assert await _invoices_at_provider(worker["redis"]) == 0
    async with sessions() as session:  # what the dead process committed is in the feed
        unnumbered = text("SELECT count(*) FROM events WHERE sequence IS NULL")
        assert await session.scalar(unnumbered) == 0


async def test_an_api_killed_after_the_commit_leaves_the_invoice_to_the_worker_once(
    api: Api,
    users: Any,
    sessions: Any,
    worker: Any,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    # given an API process killed right after a top-up's commit, before its effect ran
    env = _environment(database_url, redis_url, "after-commit")
    await _a_top_up_killed_after_its_commit(api, users, env, tmp_path / "api.log")
    await _nothing_issued_yet(sessions, worker)
    # when the run-outbox job runs (after the grace the API had)
    report = await run_outbox_job(worker, clock.now() + timedelta(minutes=1))
    # then it issues the invoice, once (the top-up's partner event was numbered with its
    # commit: no effect of its own)
    assert str(report) == "ran 1 effect"
    assert str(await run_outbox_job(worker, clock.now() + timedelta(hours=2))) == "no effects due"
    invoice, effect = await _top_up_row(sessions)
    assert invoice.payment_reference is not None and effect.done_at is not None
    assert await _invoices_at_provider(worker["redis"]) == 1
    assert await _verified(sessions) == []


async def test_a_restarted_api_answers_the_clients_retry_with_the_invoice_once(
    api: Api,
    users: Any,
    sessions: Any,
    worker: Any,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    # given an API process killed right after a top-up's commit, before its effect ran
    env = _environment(database_url, redis_url, "after-commit")
    center = await _a_top_up_killed_after_its_commit(api, users, env, tmp_path / "api.log")
    await _nothing_issued_yet(sessions, worker)
    # when the API is restarted and the client retries with its idempotency key
    healthy = _environment(database_url, redis_url, None)
    with _serve(healthy, tmp_path / "restarted.log") as (base, _):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            again = await top_up(
                Api(client), center.wallet_id, center.admin.token, amount="50.00", key="k"
            )
    # then the answer carries the invoice, issued once; the worker finds nothing left
    reference = again["topUp"]["invoice"]["paymentReference"]
    assert reference is not None and reference.startswith("in_sandbox_")
    assert str(await run_outbox_job(worker, clock.now() + timedelta(hours=2))) == "no effects due"
    invoice, effect = await _top_up_row(sessions)
    assert (invoice.payment_reference, effect.done_at is not None) == (reference, True)
    assert await _invoices_at_provider(worker["redis"]) == 1
    assert await _verified(sessions) == []


async def test_a_worker_killed_mid_effect_leaves_it_to_the_next_run_once(
    api: Api,
    users: Any,
    sessions: Any,
    worker: Any,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    # given a top-up committed by an API process that died before running its effect
    env = _environment(database_url, redis_url, "after-commit")
    await _a_top_up_killed_after_its_commit(api, users, env, tmp_path / "api.log")
    # when a worker process runs the effect and is killed before marking it done
    at = clock.now() + timedelta(minutes=1)
    command = [sys.executable, "-m", "adledger.app.cli", "jobs", "run", "run-outbox"]
    command += ["--now", at.isoformat()]
    killed = await asyncio.to_thread(
        subprocess.run,
        command,
        env=_environment(database_url, redis_url, "mid-effect"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    _, effect = await _top_up_row(sessions)
    assert (effect.done_at, effect.attempts) == (None, 1)
    assert await _invoices_at_provider(worker["redis"]) == 1
    # then the next run waits for the dead worker's claim to end, and runs it once
    held = await run_outbox_job(worker, at + timedelta(minutes=1))
    assert str(held) == "no effects due"
    _, effect = await _top_up_row(sessions)
    assert (effect.done_at, effect.attempts) == (None, 1)
    assert str(await run_outbox_job(worker, at + timedelta(minutes=10))) == "ran 1 effect"
    invoice, effect = await _top_up_row(sessions)
    assert invoice.payment_reference is not None
    assert (effect.done_at is not None, effect.attempts) == (True, 2)
    assert await _invoices_at_provider(worker["redis"]) == 1
    assert await _verified(sessions) == []
