"""`adledger payments simulate`, `attach-card` and `settle-refund`: play Stripe's part for
the sandbox.

`simulate` settles a sandbox invoice; `attach-card` saves a card on a business center's
newest card setup, as Stripe.js would; `settle-refund` gives a pending sandbox refund the
bank's answer. Either way the event Stripe would send is signed
with the webhook secret and goes through the webhook's own checks and processing: the
same code path a real event takes, in this process or (with --url) over HTTP to a
running API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal

import httpx
from redis.asyncio import Redis

from adledger.app.devstack import local_servers
from adledger.app.errors import ConfigError
from adledger.app.settings import Settings
from adledger.app.state import AppState
from adledger.app.webhooks import deliver
from adledger.domain.errors import InvalidState, NotFound
from adledger.payments.port import Card, CardSetup
from adledger.payments.sandbox import SETUP_SUCCEEDED, SandboxProvider
from adledger.payments.sandbox_refunds import RefundOutcome, refund_event_type
from adledger.payments.signing import sign_payload, verify_event
from adledger.schema.ids import db_id_of
from adledger.store.db import make_engine, make_sessionmaker

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

_ALREADY_ATTACHED = (
    "the newest card setup of business center {} already has its card, which is sent "
    "again; call the createCardSetup mutation to attach another"
)


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
    _add_attach_card_parser(actions, command)
    _add_settle_refund_parser(actions, command)


def _add_attach_card_parser(actions: Commands, command: Callable[..., Any]) -> None:
    attach = command(
        actions,
        "attach-card",
        "save a card on a business center's newest sandbox card setup, as Stripe.js "
        "would, and deliver the signed setup_intent.succeeded event",
        "database",
        "redis",
        "embedded",
        "payments",
    )
    attach.add_argument("center_id", help="the business center: numeric id or GraphQL global id")
    attach.add_argument(
        "--declining", action="store_true", help="a card that declines every charge"
    )
    attach.add_argument("--url", help="POST the event to this running API instead")
    attach.set_defaults(handler=attach_card_command)


def _add_settle_refund_parser(actions: Commands, command: Callable[..., Any]) -> None:
    settle = command(
        actions,
        "settle-refund",
        "give a pending sandbox refund the bank's answer and deliver the signed Stripe event",
        "database",
        "redis",
        "embedded",
        "payments",
    )
    settle.add_argument("reference", help="the refund's reference (re_sandbox_...)")
    settle.add_argument("--outcome", choices=["succeeded", "failed"], required=True)
    settle.add_argument("--url", help="POST the event to this running API instead")
    settle.set_defaults(handler=settle_refund_command)


def simulate_command(args: argparse.Namespace, settings: Settings) -> int:
    _require_sandbox(settings, "real invoices are paid", "settles sandbox invoices")
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
        await _require_unpaid(_sandbox(state), reference)
        invoice, event_type = await _sandbox(state).settle(reference, outcome)
        payload = SandboxProvider.event_payload(invoice, event_type)
        return event_type, await _send(state, payload, secret, url)


async def _require_unpaid(sandbox: SandboxProvider, reference: str) -> None:
    """Paying a paid invoice again would send a second invoice.paid, which the API
    answers as if it were news: say what happened instead."""
    if (await sandbox.retrieve_invoice(reference)).status == "paid":
        raise InvalidState(f"{reference} is already paid: nothing was sent")


def settle_refund_command(args: argparse.Namespace, settings: Settings) -> int:
    _require_sandbox(settings, "real refunds are settled", "settles sandbox refunds")
    with local_servers(settings.for_local_run()) as ready:
        event_type, outcome = asyncio.run(
            _settle_refund(ready, args.reference, args.outcome, args.url)
        )
    print(f"{args.reference}: {event_type} delivered, {outcome}")
    return 0 if outcome in ("PROCESSED", "DUPLICATE") else 1


async def _settle_refund(
    settings: Settings, reference: str, outcome: RefundOutcome, url: str | None
) -> tuple[str, str]:
    secret = settings.webhook_secret or ""
    if url is not None:
        await _require_api(url)  # before settling: a dead URL must leave the refund pending
    async with _state(settings) as state:
        refund = await _sandbox(state).settle_refund(reference, outcome)
        payload = SandboxProvider.refund_event_payload(refund)
        return refund_event_type(refund), await _send(state, payload, secret, url)


def attach_card_command(args: argparse.Namespace, settings: Settings) -> int:
    _require_sandbox(settings, "real cards are saved", "attaches sandbox cards")
    center_id = _center_id(args.center_id)
    with local_servers(settings.for_local_run()) as ready:
        card, outcome = asyncio.run(_attach_card(ready, center_id, args.declining, args.url))
    print(
        f"business center {center_id}: card {card.brand} •••• {card.last4} "
        f"(exp {card.exp_month:02d}/{card.exp_year}) attached; "
        f"{SETUP_SUCCEEDED} delivered, {outcome}"
    )
    return 0 if outcome in ("PROCESSED", "DUPLICATE") else 1


async def _attach_card(
    settings: Settings, center_id: int, declining: bool, url: str | None
) -> tuple[Card, str]:
    secret = settings.webhook_secret or ""
    async with _state(settings) as state:
        sandbox = _sandbox(state)
        found = await _newest_setup(sandbox, center_id)
        if url is not None:
            await _require_api(url)  # before confirming: a dead URL must leave it unconfirmed
        setup, card = await sandbox.confirm_card_setup(found.reference, declining=declining)
        payload = SandboxProvider.setup_event_payload(setup)
        return card, await _send(state, payload, secret, url)


async def _newest_setup(sandbox: SandboxProvider, center_id: int) -> CardSetup:
    found = await sandbox.latest_card_setup(center_id)
    if found is None:
        raise NotFound(
            f"business center {center_id} has no card setup in the sandbox: "
            "call the createCardSetup mutation first"
        )
    if found.status == "succeeded":
        print(f"note: {_ALREADY_ATTACHED.format(center_id)}", file=sys.stderr)
    return found


def _sandbox(state: AppState) -> SandboxProvider:
    assert isinstance(state.provider, SandboxProvider)
    return state.provider


async def _send(state: AppState, payload: bytes, secret: str, url: str | None) -> str:
    """Sign the event as Stripe would and deliver it: in this process, or POST it to url."""
    header = sign_payload(payload, secret)
    if url is not None:
        return await _post(url, payload, header)
    return await deliver(state, verify_event(payload, header, secret))


def _require_sandbox(settings: Settings, real: str, sandbox_does: str) -> None:
    if settings.for_local_run().payment_provider != "sandbox":
        raise ConfigError(
            f"STRIPE_API_KEY is set: {real} at Stripe, not here "
            f"(PAYMENT_PROVIDER=sandbox {sandbox_does})"
        )


def _center_id(raw: str) -> int:
    """Operators copy ids from GraphiQL (global ids) or from SQL (numbers): take both."""
    numeric = raw.isascii() and raw.isdigit() and len(raw) <= 18
    center_id = int(raw) if numeric else db_id_of(raw, "BusinessCenter")
    if center_id is None:
        raise ConfigError(f"{raw!r} is not a business center id")
    return center_id


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
    state = AppState(
        sessions=make_sessionmaker(engine),
        redis=redis,
        provider=SandboxProvider(redis),
        billing=settings.billing_config(),
        webhook_secret=settings.webhook_secret,
    )
    try:
        yield state
    finally:
        await state.nudges.aclose()  # the wallet updates its deliveries published
        await redis.aclose()
        await engine.dispose()
