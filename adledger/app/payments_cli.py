"""`adledger payments simulate`: play Stripe's part for sandbox invoices.

The sandbox invoice is settled, and the event Stripe would send is signed with the
webhook secret and goes through the webhook's own checks and processing: the same code
path a real event takes, in this process or (with --url) over HTTP to a running API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

import httpx
from redis.asyncio import Redis

from adledger.app.devstack import ConfigError, local_servers
from adledger.app.settings import Settings
from adledger.app.webhooks import deliver
from adledger.payments.sandbox import SandboxProvider
from adledger.payments.signing import sign_payload, verify_event
from adledger.resolvers.context import AppState
from adledger.store.db import make_engine, make_sessionmaker

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def add_payments_parser(commands: Commands) -> None:
    payments = commands.add_parser("payments", help="sandbox payment provider tools")
    actions = payments.add_subparsers(dest="action", required=True)
    simulate = actions.add_parser(
        "simulate", help="settle a sandbox invoice and deliver the signed Stripe event"
    )
    simulate.add_argument("reference", help="the invoice's paymentReference (in_sandbox_...)")
    simulate.add_argument("--outcome", choices=["paid", "failed"], default="paid")
    simulate.add_argument("--url", help="POST the event to this running API instead")
    simulate.set_defaults(handler=simulate_command)


def simulate_command(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.uses_sandbox:
        raise ConfigError("STRIPE_API_KEY is set: real invoices are paid at Stripe, not here")
    with local_servers(settings) as ready:
        event_type, outcome = asyncio.run(_simulate(ready, args.reference, args.outcome, args.url))
    print(f"{args.reference}: {event_type} delivered, {outcome}")
    return 0 if outcome in ("PROCESSED", "DUPLICATE") else 1


async def _simulate(
    settings: Settings, reference: str, outcome: Literal["paid", "failed"], url: str | None
) -> tuple[str, str]:
    secret = settings.webhook_secret or ""
    async with _state(settings) as state:
        sandbox = state.provider
        assert isinstance(sandbox, SandboxProvider)
        invoice, event_type = await sandbox.settle(reference, outcome)
        payload = sandbox.event_payload(invoice, event_type)
        header = sign_payload(payload, secret)
        if url is not None:
            return event_type, await _post(url, payload, header)
        return event_type, await deliver(state, verify_event(payload, header, secret))


async def _post(url: str, payload: bytes, header: str) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            url.rstrip("/") + "/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
    body: dict[str, Any] = response.json()
    return str(body.get("outcome", f"HTTP {response.status_code}: {body}"))


@contextlib.asynccontextmanager
async def _state(settings: Settings) -> AsyncIterator[AppState]:
    engine = make_engine(settings.database_url or "", pool_size=2, max_overflow=0)
    redis = Redis.from_url(settings.redis_url or "")
    try:
        yield AppState(
            sessions=make_sessionmaker(engine),
            redis=redis,
            provider=SandboxProvider(redis),
            billing=settings.billing_config(),
            webhook_secret=settings.webhook_secret,
        )
    finally:
        await redis.aclose()
        await engine.dispose()
