"""`adledger payments simulate`: play Stripe's part for sandbox invoices.

The sandbox invoice is settled, and the event Stripe would send is signed with the
webhook secret and goes through the webhook's own checks and processing: the same code
path a real event takes, in this process or (with --url) over HTTP to a running API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal

import httpx
from redis.asyncio import Redis

from adledger.app.devstack import local_servers
from adledger.app.errors import ConfigError
from adledger.app.settings import Settings
from adledger.app.webhooks import deliver
from adledger.payments.sandbox import SandboxProvider
from adledger.payments.signing import sign_payload, verify_event
from adledger.resolvers.context import AppState
from adledger.store.db import make_engine, make_sessionmaker

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def add_payments_parser(commands: Commands, command: Callable[..., Any]) -> None:
    """`command` makes a subcommand whose --help lists the variables it reads."""
    payments = commands.add_parser("payments", help="sandbox payment provider tools")
    actions = payments.add_subparsers(dest="action", required=True)
    simulate = command(
        actions,
        "simulate",
        "settle a sandbox invoice and deliver the signed Stripe event",
        "database",
        "redis",
        "embedded",
        "payments",
    )
    simulate.add_argument("reference", help="the invoice's paymentReference (in_sandbox_...)")
    simulate.add_argument("--outcome", choices=["paid", "failed"], default="paid")
    simulate.add_argument("--url", help="POST the event to this running API instead")
    simulate.set_defaults(handler=simulate_command)


def simulate_command(args: argparse.Namespace, settings: Settings) -> int:
    if settings.for_local_run().payment_provider != "sandbox":
        raise ConfigError(
            "STRIPE_API_KEY is set: real invoices are paid at Stripe, not here "
            "(PAYMENT_PROVIDER=sandbox settles sandbox invoices)"
        )
    with local_servers(settings.for_local_run()) as ready:
        event_type, outcome = asyncio.run(_simulate(ready, args.reference, args.outcome, args.url))
    print(f"{args.reference}: {event_type} delivered, {outcome}")
    return 0 if outcome in ("PROCESSED", "DUPLICATE") else 1


async def _simulate(
    settings: Settings, reference: str, outcome: Literal["paid", "failed"], url: str | None
) -> tuple[str, str]:
    secret = settings.webhook_secret or ""
    if url is not None:
        await _require_api(url)  # before settling: a dead URL must leave the invoice open
    async with _state(settings) as state:
        sandbox = state.provider
        assert isinstance(sandbox, SandboxProvider)
        invoice, event_type = await sandbox.settle(reference, outcome)
        payload = sandbox.event_payload(invoice, event_type)
        header = sign_payload(payload, secret)
        if url is not None:
            return event_type, await _post(url, payload, header)
        return event_type, await deliver(state, verify_event(payload, header, secret))


async def _require_api(url: str) -> None:
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url.rstrip("/") + "/healthz")
    except httpx.HTTPError as exc:
        raise ConfigError(f"nothing answers at {url} ({exc or type(exc).__name__})") from exc
    if response.status_code != 200:
        raise ConfigError(f"{url} is not an adledger API (GET /healthz: {response.status_code})")


async def _post(url: str, payload: bytes, header: str) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            url.rstrip("/") + "/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict) or "outcome" not in body:
        raise ConfigError(f"{url} answered HTTP {response.status_code}: {response.text[:200]}")
    return str(body["outcome"])


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
