"""Billing fixtures: the sandbox provider the app uses, and signed webhook delivery."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from adledger.app.settings import SANDBOX_WEBHOOK_SECRET
from adledger.payments.sandbox import SandboxProvider
from adledger.payments.signing import sign_payload
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
def webhooks(api: Api, sandbox: SandboxProvider) -> Webhooks:
    return Webhooks(api, sandbox)


@pytest.fixture
def app_provider(app: Any) -> SandboxProvider:
    """The provider instance inside the app, for tests that make it fail."""
    return app.state.adledger.provider


def event_json(payload: bytes) -> dict[str, Any]:
    return json.loads(payload)
