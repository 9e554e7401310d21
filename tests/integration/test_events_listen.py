"""`adledger events listen` as a developer runs it: a real process following a center's feed
against the test database, posting to a real local receiver; each event arrives in sequence
order and verifies with `standardwebhooks` under the secret the listener printed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook
from werkzeug import Request, Response

from adledger import clock
from adledger.app import devstack
from adledger.app.cli import main
from adledger.app.demo.seed import seed_demo
from adledger.app.settings import Settings
from adledger.domain.events import EventType
from adledger.schema.ids import to_cursor, to_global_id
from adledger.services import events
from adledger.services.config import BillingConfig
from adledger.store.business_centers import insert_business_center

pytestmark = pytest.mark.usefixtures("db")

WAIT_SECONDS = 30.0
LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  (?P<type>[a-z_.]+)  #(?P<sequence>\d+)  "
    r"evt (?P<id>\S+)  -> (?P<outcome>.+)"
)


@dataclass
class Receiver:
    """What the developer's server got (body, headers), and the statuses it answers with
    next (200 once they run out)."""

    server: HTTPServer
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server.port}/hooks"

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.received.append((request.get_data(), dict(request.headers)))
            status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok", status=status)

    async def wait_for(self, count: int) -> list[tuple[bytes, dict[str, str]]]:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(self.received) < count:  # noqa: ASYNC110 - a thread fills it
                await asyncio.sleep(0.05)
        return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    found = Receiver(server)
    server.expect_request("/hooks", method="POST").respond_with_handler(found.handle)
    server.start()
    yield found
    server.clear()
    server.stop()


@pytest.fixture
async def center(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        made = await insert_business_center(session, "Listener & Co", "USD")
        await session.commit()
    return made.id


async def make_events(
    sessions: async_sessionmaker[AsyncSession], center_id: int, *types: EventType
) -> None:
    """Events as a change commits them, then numbered as the sequencer does after it."""
    async with sessions() as session:
        for index, type_ in enumerate(types, start=1):
            data = {"id": to_global_id("TopUp", index), "note": f"{type_.value} {index}"}
            await events.record(session, center_id, type_, "TopUp", index, data, clock.now())
        await session.commit()
    async with sessions() as session:
        await events.sequence(session, center_id)
        await session.commit()


@dataclass
class Listening:
    process: asyncio.subprocess.Process
    secret: str

    async def line(self) -> str:
        assert self.process.stdout is not None
        async with asyncio.timeout(WAIT_SECONDS):
            return (await self.process.stdout.readline()).decode().rstrip("\n")

    async def stop(self) -> tuple[int, str]:
        """Ctrl-C: the exit code and what it said on stderr."""
        self.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(WAIT_SECONDS):
            _, stderr = await self.process.communicate()
        assert self.process.returncode is not None
        return self.process.returncode, stderr.decode()


@contextlib.asynccontextmanager
async def listening(database_url: str, center_id: int, *options: str) -> AsyncIterator[Listening]:
    """The listener started, once it printed its secret (it reads its start point first)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adledger.app.cli",
        "events",
        "listen",
        "--business-center",
        to_global_id("BusinessCenter", center_id),
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        async with asyncio.timeout(WAIT_SECONDS):
            ready = (await process.stdout.readline()).decode()
        if not ready.startswith("Ready."):
            raise AssertionError(ready + (await process.stderr.read()).decode())
        yield Listening(process, ready.split()[-1])
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _verified(secret: str, received: list[tuple[bytes, dict[str, str]]]) -> list[dict[str, Any]]:
    """Each body, verified as a partner's server would (raises if one does not verify)."""
    bodies = [Webhook(secret).verify(body, headers) for body, headers in received]
    assert [headers["Webhook-Id"] for _, headers in received] == [b["id"] for b in bodies]
    return bodies


# -- following the feed ------------------------------------------------------------------


async def test_events_from_now_on_arrive_in_sequence_order_signed_with_the_printed_secret(
    database_url: str, sessions, center: int, receiver: Receiver
) -> None:
    # given a center with two events before the listener starts
    await make_events(sessions, center, EventType.INVOICE_OPENED, EventType.INVOICE_PAID)
    async with listening(database_url, center, "--forward-to", receiver.url) as listener:
        # when three more are committed
        await make_events(
            sessions,
            center,
            EventType.TOP_UP_PAID,
            EventType.CAMPAIGN_PAUSED,
            EventType.INVOICE_PAID,
        )
        received = await receiver.wait_for(3)
        lines = [await listener.line() for _ in range(3)]
        code, stderr = await listener.stop()
    # then the receiver got those three only, in sequence order, each verifying
    assert listener.secret.startswith("whsec_")
    bodies = _verified(listener.secret, received)
    assert [(b["type"], b["sequence"]) for b in bodies] == [
        ("top_up.paid", 3),
        ("campaign.paused", 4),
        ("invoice.paid", 5),
    ]
    first = bodies[0]
    assert set(first) == {
        "id",
        "type",
        "sequence",
        "createdAt",
        "apiVersion",
        "businessCenter",
        "data",
    }
    assert first["businessCenter"] == {"id": to_global_id("BusinessCenter", center)}
    assert first["data"] == {"id": to_global_id("TopUp", 1), "note": "top_up.paid 1"}
    # and printed one line per delivery, and stopped cleanly on Ctrl-C saying how to resume
    shown = [LINE.fullmatch(line) for line in lines]
    assert all(shown), lines
    assert [(m["type"], m["sequence"], m["id"]) for m in shown if m] == [
        (b["type"], str(b["sequence"]), b["id"]) for b in bodies
    ]
    assert all(re.fullmatch(r"200 \(\d+ ms\)", m["outcome"]) for m in shown if m)
    assert code == 0
    assert f"--after {to_cursor(5)}" in stderr
    assert len(receiver.received) == 3


async def test_after_replays_from_the_cursor_and_types_filter_them(
    database_url: str, sessions, center: int, receiver: Receiver
) -> None:
    # given four events
    await make_events(
        sessions,
        center,
        EventType.INVOICE_OPENED,
        EventType.INVOICE_PAID,
        EventType.CAMPAIGN_PAUSED,
        EventType.TOP_UP_PAID,
    )
    # when the listener starts after the first, for two types (both spellings of --types)
    options = ("--after", to_cursor(1), "--types", "invoice.paid,invoice.voided")
    async with listening(
        database_url, center, "--forward-to", receiver.url, *options, "--types", "top_up.paid"
    ) as listener:
        received = await receiver.wait_for(2)
        code, _ = await listener.stop()
    # then it replays the events of those types after the cursor, in order
    bodies = _verified(listener.secret, received)
    assert [(b["type"], b["sequence"]) for b in bodies] == [
        ("invoice.paid", 2),
        ("top_up.paid", 4),
    ]
    assert code == 0


async def test_a_failed_post_is_tried_once_more_then_skipped_and_the_listener_goes_on(
    database_url: str, sessions, center: int, receiver: Receiver
) -> None:
    # given a receiver failing its first two answers
    receiver.statuses = [500, 503]
    async with listening(database_url, center, "--forward-to", receiver.url) as listener:
        # when two events come
        await make_events(sessions, center, EventType.INVOICE_OPENED, EventType.INVOICE_PAID)
        received = await receiver.wait_for(3)
        lines = [await listener.line() for _ in range(3)]
        code, _ = await listener.stop()
    # then the first was posted twice and skipped, saying how to replay it; the second arrived
    sequences = [b["sequence"] for b in _verified(listener.secret, received)]
    assert sequences == [1, 1, 2]
    assert lines[0].endswith("; trying once more")
    assert " -> 500 (" in lines[0]
    assert " -> 503 (" in lines[1]
    assert lines[1].endswith(f"; not delivered, skipped (replay it with --after {to_cursor(0)})")
    assert " #2 " in lines[2] and " -> 200 (" in lines[2]
    assert code == 0


# -- refusals ------------------------------------------------------------------------------


async def test_an_unknown_type_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["events", "listen", "--business-center", "1", "--forward-to", "http://localhost:1/"]
    code = await asyncio.to_thread(main, [*argv, "--types", "invoice.paid,invoice.payed"])
    assert code == 2
    assert "--types: unknown event type 'invoice.payed'" in capsys.readouterr().err


async def test_a_center_that_does_not_exist_is_refused(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    missing = to_global_id("BusinessCenter", 999_999)
    argv = ["events", "listen", "--business-center", missing, "--forward-to", "http://localhost:1/"]
    code = await asyncio.to_thread(main, argv)
    assert code == 2
    assert "--business-center: no business center has the id 999999" in capsys.readouterr().err


async def test_a_cursor_that_is_not_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["events", "listen", "--business-center", "1", "--forward-to", "http://localhost:1/"]
    code = await asyncio.to_thread(main, [*argv, "--after", "yesterday"])
    assert code == 2
    assert "--after: 'yesterday' is not a feed cursor" in capsys.readouterr().err


# -- the dev banner ------------------------------------------------------------------------


async def test_the_dev_banner_offers_a_listener_for_the_demo_center(
    database_url: str, redis_url: str, sessions
) -> None:
    # given the demo seeded
    async with sessions() as session:
        seed = await seed_demo(session, BillingConfig(), clock.now())
        await session.commit()
    # when `make dev` prepares its banner
    access = await devstack._demo_access(Settings(database_url=database_url, redis_url=redis_url))
    example = devstack.listen_example(access.center_id or "")
    # then it names Northwind Agency's id in a ready command
    center = to_global_id("BusinessCenter", seed.business_center_id)
    assert access.center_id == center
    assert (
        f"events listen --business-center {center} --forward-to http://localhost:3000/hooks"
        in example
    )
