"""Billing fixtures: the sandbox provider the app uses, and signed webhook delivery."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette

from adledger.app.asgi import create_app
from adledger.app.settings import SANDBOX_WEBHOOK_SECRET, Settings
from adledger.payments.sandbox import SandboxProvider
from adledger.payments.signing import sign_payload
from adledger.resolvers.pubsub_hub import PubSubHub
from adledger.services import effects
from adledger.services.config import BillingConfig
from tests.helpers import Api


class Webhooks:
    """Stripe's side of the conversation: settle an invoice, send the signed event."""

    def __init__(self, api: Api, sandbox: SandboxProvider) -> None:
        self.api = api
        self.sandbox = sandbox
        self.sent = 0

    def payload(self, invoice: Any, event_type: str, event_id: str | None = None) -> bytes:
        self.sent += 1
        return self.sandbox.event_payload(invoice, event_type, event_id or f"evt_test_{self.sent}")

    async def post(
        self,
        payload: bytes,
        secret: str = SANDBOX_WEBHOOK_SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> Any:
        header = signature or sign_payload(payload, secret, timestamp or int(time.time()))
        return await self.api.client.post(
            "/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )

    async def pay(self, reference: str, outcome: str = "paid") -> Any:
        invoice, event_type = await self.sandbox.settle(reference, outcome)  # type: ignore[arg-type]
        return await self.post(self.payload(invoice, event_type))

    async def send(self, reference: str, event_type: str, event_id: str | None = None) -> Any:
        invoice = await self.sandbox.retrieve_invoice(reference)
        return await self.post(self.payload(invoice, event_type, event_id))


@pytest.fixture
async def sandbox(redis_url: str, db: None) -> AsyncIterator[SandboxProvider]:
    client = Redis.from_url(redis_url)
    yield SandboxProvider(client)
    await client.aclose()


@pytest.fixture
def jobs(sessions, sandbox: SandboxProvider) -> dict[str, Any]:
    """What the worker's startup hands every job: transactions (whose commits number the
    partner events they recorded), the provider, billing."""
    billing = BillingConfig()
    return {
        "transact": effects.transaction_runner(sessions),
        "provider": sandbox,
        "billing": billing,
    }


@pytest.fixture
def webhooks(api: Api, sandbox: SandboxProvider) -> Webhooks:
    return Webhooks(api, sandbox)


@pytest.fixture
def app_provider(app: Any) -> SandboxProvider:
    """The provider instance inside the app, for tests that make it fail."""
    return app.state.adledger.provider


def event_json(payload: bytes) -> dict[str, Any]:
    return json.loads(payload)


# The app behind a real uvicorn (websockets, concurrency) ---------------------------


@dataclass
class Live:
    url: str
    app: Starlette

    @property
    def hub(self) -> PubSubHub:
        hub = self.app.state.adledger.pubsub_hub
        assert hub is not None
        return hub


@pytest.fixture
async def serve(
    db: None, database_url: str, redis_url: str
) -> AsyncIterator[Callable[..., Awaitable[Live]]]:
    """Starts the app, with these settings, behind a real uvicorn on a free loopback port."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(**settings: Any) -> Live:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        app = create_app(Settings(database_url=database_url, redis_url=redis_url, **settings))
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        running.append((server, asyncio.create_task(server.serve())))
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        return Live(f"127.0.0.1:{port}", app)

    yield start
    for server, task in running:
        server.should_exit = True
        await task


@pytest.fixture
async def live_url(serve: Callable[..., Awaitable[Live]]) -> str:
    return (await serve()).url
