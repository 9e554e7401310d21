"""Partner webhook receivers for the delivery tests: a real HTTP server on 127.0.0.1 (each
request in its own thread, so one that hangs holds no other), answering as a test scripts
it, and endpoints and events put straight into the database."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug import Request, Response

from adledger import clock
from adledger.domain.events import EventType
from adledger.services import events
from adledger.services.webhook_signing import generate_secret
from adledger.store.webhook_models import WebhookAttempt, WebhookEndpoint, WebhookMessage

HANG_AT_MOST_SECONDS = 60.0


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers 200, or the statuses given to `answer` first, one per request; while
    `hanging`, every request waits (until `release`, at most a minute) before answering."""

    server: HTTPServer
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hanging: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/hooks"

    def answer(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def handle(self, request: Request) -> Response:
        with self.arrived:
            self.received.append(Received(dict(request.headers), request.get_data()))
            status = self.statuses.pop(0) if self.statuses else 200
            hanging = self.hanging
            self.arrived.notify_all()
        if hanging:
            self.release.wait(HANG_AT_MOST_SECONDS)
        return Response(f"answered {status}", status=status)

    def wait_for(self, count: int, seconds: float) -> bool:
        """True once `count` requests arrived (waiting at most `seconds`)."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= count, seconds)

    def ids(self) -> list[str]:
        return [r.headers["Webhook-Id"] for r in self.received]


@contextmanager
def receiver() -> Iterator[Receiver]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    made = Receiver(server)
    server.expect_request("/hooks", method="POST").respond_with_handler(made.handle)
    server.start()
    try:
        yield made
    finally:
        made.release.set()
        server.clear()
        server.stop()


async def make_endpoint(
    sessions: async_sessionmaker[AsyncSession],
    center_id: int,
    url: str,
    *,
    types: tuple[str, ...] = (),
    status: str = "ENABLED",
    previous_secret: str | None = None,
    rotated_at: datetime | None = None,
) -> WebhookEndpoint:
    """An endpoint row as createWebhookEndpoint would leave it (its cursor at 0: every
    event of the center is queued for it)."""
    now = clock.now()
    row = WebhookEndpoint(
        business_center_id=center_id,
        url=url,
        event_types=list(types),
        status=status,
        secret=generate_secret(),
        previous_secret=previous_secret,
        rotated_at=rotated_at,
        cursor=0,
        created_at=now,
        updated_at=now,
    )
    async with sessions() as session:
        session.add(row)
        await session.commit()
    return row


async def emit(
    transact: Any,
    center_id: int,
    type_: EventType,
    *,
    subject_type: str = "Test",
    subject_id: int = 1,
    at: datetime | None = None,
) -> None:
    """One event committed and numbered (the job runner's transactions number them)."""
    data = {"id": f"{subject_type}:{subject_id}"}
    moment = at or clock.now()

    async def work(session: AsyncSession) -> None:
        await events.record(session, center_id, type_, subject_type, subject_id, data, moment)

    await transact(work)


async def messages(sessions: async_sessionmaker[AsyncSession]) -> list[WebhookMessage]:
    async with sessions() as session:
        stmt = select(WebhookMessage).order_by(WebhookMessage.endpoint_id, WebhookMessage.sequence)
        return list(await session.scalars(stmt))


async def attempts(sessions: async_sessionmaker[AsyncSession]) -> list[WebhookAttempt]:
    async with sessions() as session:
        return list(await session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))


async def endpoint(sessions: async_sessionmaker[AsyncSession], endpoint_id: int) -> WebhookEndpoint:
    async with sessions() as session:
        found = await session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        return found
