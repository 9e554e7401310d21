"""`adledger payments simulate`: the demo's pending top-up, paid through the webhook path."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from adledger import clock
from adledger.app.cli import main
from adledger.app.demo import seed as demo
from adledger.domain.ledger import AccountKind
from adledger.payments.sandbox import SandboxProvider
from adledger.services.config import BillingConfig
from adledger.services.invoices import issue_pending
from adledger.store.db import transaction_runner
from adledger.store.models import LedgerAccount, TopUp


@pytest.fixture
async def pending_reference(monkeypatch, database_url, redis_url, db, sessions) -> str:
    """The demo, seeded and its invoices issued in the sandbox, as `adledger dev` does."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    async with sessions() as session:
        await demo.seed_demo(session, BillingConfig(), clock.now())
        await session.commit()
    redis = Redis.from_url(redis_url)
    try:
        later = clock.now() + timedelta(seconds=1)
        assert await issue_pending(transaction_runner(sessions), SandboxProvider(redis), later) == (
            1,
            0,
        )
    finally:
        await redis.aclose()
    async with sessions() as session:
        reference = await demo.pending_top_up_reference(session)
    assert reference is not None
    return reference


async def _center_cash(sessions) -> int:
    async with sessions() as session:
        stmt = select(LedgerAccount.balance).where(
            LedgerAccount.kind == AccountKind.CASH.value, LedgerAccount.wallet_id == 1
        )
        return (await session.scalars(stmt)).one()


async def _top_up_status(sessions) -> str:
    async with sessions() as session:
        return (await session.scalars(select(TopUp.status))).one()


async def test_simulate_paid_credits_the_demo_top_up(pending_reference, sessions, capsys) -> None:
    before = await _center_cash(sessions)
    code = await asyncio.to_thread(main, ["payments", "simulate", pending_reference])
    assert code == 0
    assert (
        capsys.readouterr().out.strip() == f"{pending_reference}: invoice.paid delivered, PROCESSED"
    )
    assert await _center_cash(sessions) == before + 50000
    assert await _top_up_status(sessions) == "PAID"


async def test_simulate_failed_credits_nothing(pending_reference, sessions, capsys) -> None:
    before = await _center_cash(sessions)
    args = ["payments", "simulate", pending_reference, "--outcome", "failed"]
    assert await asyncio.to_thread(main, args) == 0
    assert "invoice.payment_failed delivered, PROCESSED" in capsys.readouterr().out
    assert await _center_cash(sessions) == before
    assert await _top_up_status(sessions) == "FAILED"


async def test_simulate_refuses_when_stripe_is_configured(
    pending_reference, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("PAYMENT_PROVIDER")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_x")
    assert await asyncio.to_thread(main, ["payments", "simulate", pending_reference]) == 2
    assert "STRIPE_API_KEY is set" in capsys.readouterr().err


async def test_simulate_to_a_dead_url_is_one_line_and_leaves_the_invoice_open(
    pending_reference, sessions, redis_url, capsys
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"

    code = await asyncio.to_thread(main, ["payments", "simulate", pending_reference, "--url", dead])

    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"adledger: nothing answers at {dead}")
    assert not any("Traceback" in line for line in err)
    assert await _top_up_status(sessions) == "AWAITING_PAYMENT"
    redis = Redis.from_url(redis_url)
    try:
        invoice = await SandboxProvider(redis).retrieve_invoice(pending_reference)
    finally:
        await redis.aclose()
    assert invoice.status == "open"


async def test_simulate_paid_on_a_paid_invoice_says_so_and_sends_nothing(
    pending_reference, sessions, capsys
) -> None:
    # Given the demo's pending top-up, paid once
    assert await asyncio.to_thread(main, ["payments", "simulate", pending_reference]) == 0
    capsys.readouterr()
    paid_cash = await _center_cash(sessions)

    # When it is "paid" again
    code = await asyncio.to_thread(main, ["payments", "simulate", pending_reference])

    # Then the command says the invoice was already paid, fails, and moves nothing
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err.strip() == (
        f"adledger: {pending_reference} is already paid: nothing was sent"
    )
    assert await _center_cash(sessions) == paid_cash
    assert await _top_up_status(sessions) == "PAID"
