"""`adledger events listen`: a business center's partner events, posted to a developer's own
URL as they happen, like `stripe listen` (docs/integrations.md, "The local listener").

It follows the center's feed (the `BusinessCenter.events` order: per-center sequence) from
its last event, or from a feed cursor, reading the database directly: it needs no endpoint,
no worker and no API, and it runs beside `make dev` with no setting (the embedded
PostgreSQL is found as every local command finds it). Each event is posted as a webhook
delivery would post it (the same body and Standard Webhooks headers), signed with a secret
made for this run and printed at start.

A developer tool, not a delivery: http and local addresses are allowed, a failed post is
tried once more and then skipped (printed, with the cursor that replays it), and nothing
is recorded anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adledger import clock
from adledger.app.devstack import local_servers
from adledger.app.errors import ConfigError
from adledger.app.settings import Settings
from adledger.domain.errors import InvalidInput
from adledger.domain.events import EventType, check_types
from adledger.domain.webhooks import payload_text
from adledger.schema.ids import db_id_of, from_cursor, to_cursor, to_global_id
from adledger.services.webhook_client import DeliveryResult, post
from adledger.services.webhook_data import envelope
from adledger.services.webhook_signing import generate_secret, signed_headers
from adledger.services.webhook_targets import Target, resolve_and_check
from adledger.store.business_centers import business_center
from adledger.store.db import make_engine, make_sessionmaker
from adledger.store.events import feed_pages, last_sequence
from adledger.store.models import Event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

POLL_SECONDS = 1.0
"""How often the feed is read when the last read found nothing more."""
PAGE_SIZE = 100
"""Events read at once: the feed's own page bound."""
RETRY_PAUSE_SECONDS = 1.0
"""The pause before the one retry of a failed post."""
ATTEMPTS = 2
"""A post and one retry; then the event is skipped (the feed keeps it for --after)."""

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def add_events_parser(commands: Commands, command: Callable[..., Any]) -> None:
    """`command` makes a subcommand whose --help lists the variables it reads."""
    events = commands.add_parser("events", help="partner events tools")
    actions = events.add_subparsers(dest="action", required=True)
    listen = command(
        actions,
        "listen",
        "post a business center's events, as they happen, signed, to a local URL "
        "(a development tool, like `stripe listen`)",
        "database",
        "embedded",
    )
    listen.add_argument(
        "--business-center",
        required=True,
        metavar="ID",
        help="the business center: GraphQL global id or numeric id",
    )
    listen.add_argument(
        "--forward-to",
        required=True,
        metavar="URL",
        help="where to POST each event, e.g. http://localhost:3000/hooks",
    )
    listen.add_argument(
        "--types",
        action="append",
        metavar="TYPE[,TYPE...]",
        help="only these event types (comma-separated, or the option repeated; default: all)",
    )
    listen.add_argument(
        "--after",
        metavar="CURSOR",
        help="start after this feed cursor (an edge's cursor of BusinessCenter.events), "
        "replaying what followed it (default: only events from now on)",
    )
    listen.set_defaults(handler=listen_command)


# -- the command ---------------------------------------------------------------------------


@dataclass(slots=True)
class Listener:
    """One run: what it follows, where it posts, with which secret, and how far it got."""

    center_id: int
    target: Target
    types: list[str] | None
    secret: str
    last: int
    """The sequence of the last event handled (posted or skipped): the feed is read after it."""


def listen_command(args: argparse.Namespace, settings: Settings) -> int:
    """Arguments are checked before any server is touched: a wrong one exits 2 at once."""
    center_id = center_id_of(args.business_center)
    types = event_types(args.types)
    after = _after(args.after)
    with local_servers(settings, redis=False) as ready:
        asyncio.run(_listen(ready.database_url or "", center_id, args.forward_to, types, after))
    return 0


def center_id_of(raw: str) -> int:
    """Developers copy ids from GraphiQL (global ids) or from SQL (numbers): take both."""
    numeric = raw.isascii() and raw.isdigit() and len(raw) <= 18
    center_id = int(raw) if numeric else db_id_of(raw, "BusinessCenter")
    if center_id is None:
        raise ConfigError(f"--business-center: {raw!r} is not a business center id")
    return center_id


def event_types(raw: Sequence[str] | None) -> list[str] | None:
    """`--types a,b` and `--types a --types b` alike; None: every type."""
    if not raw:
        return None
    names = [name.strip() for each in raw for name in each.split(",") if name.strip()]
    if not names:
        raise ConfigError("--types: name at least one event type")
    try:
        return [t.value for t in check_types(names)]
    except InvalidInput as exc:
        raise ConfigError(
            f"--types: {exc.message}; the event types are {', '.join(EventType)}"
        ) from None


def _after(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        sequence = from_cursor(raw)
    except ValueError:
        sequence = None
    if sequence is None:
        raise ConfigError(
            f"--after: {raw[:60]!r} is not a feed cursor (the cursor of an edge of "
            "BusinessCenter.events, or one this listener printed)"
        )
    return sequence


async def _listen(
    database_url: str, center_id: int, url: str, types: list[str] | None, after: int | None
) -> None:
    target = await _target(url)
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        sessions = make_sessionmaker(engine)
        name, last = await _start(sessions, center_id, after)
        listener = Listener(center_id, target, types, generate_secret(), last)
        _announce(listener, name, after is not None)
        await _until_stopped(_follow(listener, sessions))
        _note(f"stopped. Resume where it stopped with --after {to_cursor(listener.last)}")
    finally:
        await engine.dispose()


async def _target(url: str) -> Target:
    try:
        return await resolve_and_check(url, allow_private=True)
    except InvalidInput as exc:
        raise ConfigError(f"--forward-to: {exc.message}") from None


async def _start(
    sessions: async_sessionmaker[AsyncSession], center_id: int, after: int | None
) -> tuple[str, int]:
    """The center's name, and the sequence to read after: --after's, or its last one."""
    async with sessions() as session:
        center = await business_center(session, center_id)
        if center is None:
            raise ConfigError(f"--business-center: no business center has the id {center_id}")
        return center.name, (await last_sequence(session, center_id) if after is None else after)


def _announce(listener: Listener, name: str, replaying: bool) -> None:
    center = to_global_id("BusinessCenter", listener.center_id)
    start = "after" if replaying else "from now on, after"
    print(f"Ready. Webhook signing secret for this run: {listener.secret}", flush=True)
    _note(
        f"forwarding the events of {name!r} ({center}) {start} sequence {listener.last}, "
        f"to {listener.target.url.url}\n"
        f"types: {', '.join(listener.types) if listener.types else 'all'}\n"
        f"a failed post is tried once more, then skipped (replay it with the --after "
        f"it prints). Ctrl-C stops."
    )


async def _until_stopped(following: Any) -> None:
    """Run until SIGINT/SIGTERM: the listener stops between two reads or mid-post."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still interrupts
            loop.add_signal_handler(signum, stop.set)
    task = asyncio.ensure_future(following)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        task.cancel()  # nothing if it ended by itself (it failed: raised below)
        for signum in _STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)
    with contextlib.suppress(asyncio.CancelledError):
        await task


# -- following the feed ----------------------------------------------------------------------


async def _follow(listener: Listener, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Read the feed after the last event handled, post what came, and poll again once a
    read comes back short: a full page is followed by the next one at once."""
    while True:
        page = await _page(listener, sessions)
        for row in page:
            await deliver(listener, row)
            listener.last = row.sequence or listener.last
        if len(page) < PAGE_SIZE:
            await asyncio.sleep(POLL_SECONDS)


async def _page(listener: Listener, sessions: async_sessionmaker[AsyncSession]) -> list[Event]:
    # A short transaction per read: nothing held open between two polls.
    async with sessions() as session:
        pages = await feed_pages(
            session,
            [listener.center_id],
            after=listener.last,
            limit=PAGE_SIZE,
            types=listener.types,
        )
    return pages.get(listener.center_id, [])


async def deliver(listener: Listener, row: Event) -> bool:
    """Post one event, and once more if that failed; a line per attempt. True: delivered."""
    message = envelope(row)
    body = payload_text(message).encode()
    for attempt in range(1, ATTEMPTS + 1):
        # Signed again for each attempt: the timestamp is the attempt's, as a delivery's is.
        headers = signed_headers(message["id"], body, [listener.secret])
        result = await post(listener.target, body, headers)
        print(delivery_line(row, message["id"], result, attempt), flush=True)
        if result.ok:
            return True
        if attempt < ATTEMPTS:
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
    return False


def delivery_line(row: Event, event_id: str, result: DeliveryResult, attempt: int) -> str:
    """`2026-12-07 05:31:02  invoice.paid  #12  evt <id>  -> 200 (14 ms)`, the time in UTC;
    a failure says what happens next."""
    at = clock.now().strftime("%Y-%m-%d %H:%M:%S")
    line = f"{at}  {row.type}  #{row.sequence}  evt {event_id}  -> {_outcome(result)}"
    if result.ok:
        return line
    if attempt < ATTEMPTS:
        return f"{line}; trying once more"
    replay = to_cursor((row.sequence or 1) - 1)
    return f"{line}; not delivered, skipped (replay it with --after {replay})"


def _outcome(result: DeliveryResult) -> str:
    took = f"({result.duration_ms} ms)"
    if result.status_code is None:
        return f"no answer: {result.error} {took}"
    if result.error is not None:
        return f"{result.status_code}, {result.error} {took}"
    return f"{result.status_code} {took}"


def _note(message: str) -> None:
    # stderr: stdout carries the secret and one line per delivery, for scripts to read.
    print(message, file=sys.stderr, flush=True)
