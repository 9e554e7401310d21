"""`adledger ...`: the command line of the service and of its operators.

Commands are thin edges like the API: they open a session, call a service, commit, and
print. Results go to stdout and notes to stderr, so scripts can take the last line of
`adledger users create` as the token.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from pydantic import ValidationError

from adledger import clock
from adledger.app.devstack import (
    local_servers,
    one_session,
    require_urls,
    run_dev,
    run_services,
    serve_processes,
)
from adledger.app.environment import EVERYTHING, describe
from adledger.app.errors import ConfigError
from adledger.app.events_cli import add_events_parser
from adledger.app.logs import configure_logging
from adledger.app.payments_cli import add_payments_parser
from adledger.app.progress import ProgressBar
from adledger.app.settings import PaymentsNotConfigured, Settings
from adledger.app.worker import check_worker_health, shutdown, startup
from adledger.domain.access import Role
from adledger.domain.errors import DomainError, NotFound
from adledger.jobs.ledger import verify_from_checkpoint
from adledger.jobs.registry import JOBS
from adledger.resolvers.root import build_schema
from adledger.schema.ids import db_id_of
from adledger.services.actor import Actor
from adledger.services.business_centers import add_member
from adledger.services.users import create_user
from adledger.services.verify import Progress, Verification
from adledger.store.db import make_engine, make_sessionmaker
from adledger.store.migrate import upgrade
from adledger.store.users import user_by_email

Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: list[str] | None = None) -> int:
    """Every failure is one line on stderr and an exit code, never a traceback
    (ADLEDGER_TRACEBACK=1 shows it, for bug reports)."""
    args = _parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        clock.check()
        return handler(args, Settings())
    except ValidationError as exc:
        return _fail(_settings_problem(exc), 2)
    except clock.ClockSettingError as exc:
        return _fail(str(exc), 2)
    except (ConfigError, PaymentsNotConfigured) as exc:
        return _fail(str(exc), 2)
    except DomainError as exc:
        return _fail(exc.message, 1)
    except httpx.HTTPError as exc:
        return _fail(f"{exc.request.url} did not answer: {exc or type(exc).__name__}", 1)
    except OSError as exc:
        return _fail(_os_problem(exc), 1)
    except KeyboardInterrupt:  # a second Ctrl-C: everything was stopped on the way out
        return 130
    except Exception as exc:
        return _fail(f"unexpected {type(exc).__name__}: {exc}", 1)


def _fail(message: str, code: int) -> int:
    if os.environ.get("ADLEDGER_TRACEBACK"):
        traceback.print_exc()
    print(f"adledger: {message}", file=sys.stderr)
    return code


def _settings_problem(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]).upper()
        problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def _os_problem(exc: OSError) -> str:
    target = f" {exc.filename}" if exc.filename else ""
    return f"cannot use{target}: {exc.strerror or exc}"


# -- the commands ------------------------------------------------------------------------


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    _log_to_stderr(settings)
    _warn_if_clock_set()
    return run_dev(_listen_on(args, settings))


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    ready = _production(_listen_on(args, settings), "serve")
    _log_to_stderr(ready)
    _warn_if_clock_set()
    if args.workers > 1:
        serve_processes(ready, args.workers)
    else:
        asyncio.run(run_services(ready, api=True, worker=False))
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if args.check:
        if not settings.redis_url:
            raise ConfigError(
                "`adledger worker --check` needs REDIS_URL (the worker reports its health there)"
            )
        healthy = asyncio.run(check_worker_health(settings))
        print("worker is healthy" if healthy else "no healthy worker has reported recently")
        return 0 if healthy else 1
    ready = _production(settings, "worker")
    _log_to_stderr(ready)
    _warn_if_clock_set()
    asyncio.run(run_services(ready, api=False, worker=True))
    return 0


def _production(settings: Settings, command: str) -> Settings:
    """serve and worker never fall back: no embedded servers, no silent sandbox."""
    ready = require_urls(settings, command)
    ready.chosen_payment_provider()
    return ready


def _warn_if_clock_set() -> None:
    """ADLEDGER_NOW is honoured everywhere (a rehearsal runs the real processes), but
    never meant for production: say so loudly at start."""
    if clock.is_set():
        logging.getLogger("adledger.clock").warning(
            "%s is set (%s): the clock reads %s, not real time; it is for tests and "
            "rehearsals only, never for production",
            clock.ENV,
            clock.setting(),
            clock.now().isoformat(timespec="seconds"),
        )


def _listen_on(args: argparse.Namespace, settings: Settings) -> Settings:
    overrides = {"host": args.host, "port": args.port}
    return settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def _migrate(_: argparse.Namespace, settings: Settings) -> int:
    with local_servers(settings, redis=False) as ready:
        upgrade(_database(ready))
    print("the database schema is up to date")
    return 0


def _users_create(args: argparse.Namespace, settings: Settings) -> int:
    with local_servers(settings, redis=False) as ready:
        token = asyncio.run(
            _create_user(_database(ready), args.email, args.staff, args.integration)
        )
    kind = "staff user" if args.staff else "integration user" if args.integration else "user"
    print(f"created {kind} {args.email}; its API token (shown only now):")
    print(token)
    return 0


def _members_add(args: argparse.Namespace, settings: Settings) -> int:
    center_id = _center_id(args.business_center_id)
    with local_servers(settings, redis=False) as ready:
        asyncio.run(_add_member(_database(ready), center_id, args.email, args.role, args.by))
    print(f"{args.email} is now {args.role.value} of business center {center_id}")
    return 0


def _verify_ledger(args: argparse.Namespace, settings: Settings) -> int:
    progress = ProgressBar("verify-ledger")
    with local_servers(settings, redis=False) as ready:
        verification = asyncio.run(_verification(_database(ready), args.full, progress))
    print(_report(verification))
    return 1 if verification.violations else 0


def _export_schema(args: argparse.Namespace, _: Settings) -> int:
    sdl = build_schema().as_str()
    if args.output is None:
        print(sdl)
    else:
        args.output.write_text(sdl + "\n", encoding="utf-8")
        print(f"wrote the served schema to {args.output}", file=sys.stderr)
    return 0


def _jobs_run(args: argparse.Namespace, settings: Settings) -> int:
    now = clock.now() if args.now is None else _instant(args.now, "--now")
    with local_servers(settings) as ready:
        ready.chosen_payment_provider()
        result = asyncio.run(_run_job(ready, args.name, now))
    print(f"{args.name} at {now.isoformat()}: {result}")
    return 0


# -- what the commands run ---------------------------------------------------------------


async def _create_user(database_url: str, email: str, staff: bool, integration: bool) -> str:
    async with one_session(database_url) as session:
        token = await create_user(session, email, is_staff=staff, is_integration=integration)
        await session.commit()
    return token


async def _add_member(database_url: str, center_id: int, email: str, role: Role, by: str) -> None:
    async with one_session(database_url) as session:
        acting = await user_by_email(session, by.strip().lower())
        if acting is None:
            raise NotFound(f"no user has the email {by}")
        actor = Actor(acting.id, acting.email, acting.is_staff)
        await add_member(session, actor, center_id, email, role)
        await session.commit()


async def _verification(database_url: str, full: bool, progress: Progress) -> Verification:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        return await verify_from_checkpoint(make_sessionmaker(engine), full=full, progress=progress)
    finally:
        await engine.dispose()


async def _run_job(settings: Settings, name: str, now: datetime) -> object:
    ctx: dict[str, object] = {"settings": settings}
    await startup(ctx)
    try:
        return await JOBS[name](ctx, now)
    finally:
        await shutdown(ctx)


def _report(verification: Verification) -> str:
    read = f"{verification.postings_read:,} posting(s) read"
    scope = (
        "in full"
        if verification.since is None
        else f"since {verification.since:%Y-%m-%d %H:%M:%S} UTC (the last checkpoint)"
    )
    violations = verification.violations
    if not violations:
        return f"ledger verified: every invariant holds ({read} {scope})"
    lines = [f"ledger verification failed: {len(violations)} violation(s) ({read} {scope})"]
    lines += [f"  - {violation.rule}: {violation.detail}" for violation in violations]
    return "\n".join(lines)


def _database(settings: Settings) -> str:
    assert settings.database_url is not None  # local_servers always provides one
    return settings.database_url


def _center_id(raw: str) -> int:
    """Operators copy ids from GraphiQL (global ids) or from SQL (numbers): take both."""
    numeric = raw.isascii() and raw.isdigit() and len(raw) <= 18
    center_id = int(raw) if numeric else db_id_of(raw, "BusinessCenter")
    if center_id is None:
        raise ConfigError(f"{raw!r} is not a business center id")
    return center_id


def _log_to_stderr(settings: Settings) -> None:
    # Only long-running commands configure logging: one-shot commands print results.
    configure_logging(settings.log_format, settings.log_level)


# -- arguments ---------------------------------------------------------------------------


def _instant(raw: str, option: str) -> datetime:
    """An option's instant in UTC; anything else is a one-line error naming the option
    (parsed here, not by argparse, whose errors come with a usage screen)."""
    shown = repr(raw if len(raw) <= 40 else raw[:40] + "...")
    try:
        instant = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ConfigError(
            f"{option}: {shown} is not an ISO 8601 instant, e.g. 2026-11-22T00:00:00+00:00"
        ) from exc
    if instant.tzinfo is None:
        raise ConfigError(f"{option}: give the instant a UTC offset, e.g. +00:00")
    try:
        return clock.in_utc(instant)
    except ValueError as exc:
        raise ConfigError(f"{option}: {shown} {exc}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adledger",
        description="adledger: billing engine service and operator tools",
        epilog="Each command's --help lists the environment variables it reads.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _service_commands(commands)
    _operator_commands(commands)
    _users_parser(commands)
    _members_parser(commands)
    _jobs_parser(commands)
    add_payments_parser(commands, _command)
    add_events_parser(commands, _command)
    return parser


if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def _command(
    commands: Commands, name: str, help_text: str, *groups: str
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the environment variables it reads."""
    return commands.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=describe(*groups),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _listen_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--host", help="interface to listen on (default: HOST or 127.0.0.1)")
    command.add_argument("--port", type=int, help="port to listen on (default: PORT or 8000)")


def _service_commands(commands: Commands) -> None:
    dev = _command(
        commands,
        "dev",
        "run API and worker locally with the demo; embedded PostgreSQL/Redis when "
        "DATABASE_URL/REDIS_URL are unset",
        *EVERYTHING,
    )
    _listen_options(dev)
    dev.set_defaults(handler=_dev)
    serve = _command(
        commands,
        "serve",
        "run the API (needs DATABASE_URL, REDIS_URL and Stripe keys or PAYMENT_PROVIDER=sandbox)",
        "database", "redis", "payments", "billing", "http", "webhooks", "logs",
    )  # fmt: skip
    _listen_options(serve)
    serve.add_argument("--workers", type=_positive, default=1, help="API processes (default 1)")
    serve.set_defaults(handler=_serve)
    worker = _command(
        commands,
        "worker",
        "run the arq worker (needs DATABASE_URL, REDIS_URL and Stripe keys or "
        "PAYMENT_PROVIDER=sandbox)",
        "database", "redis", "payments", "billing", "webhooks", "logs",
    )  # fmt: skip
    worker.add_argument(
        "--check", action="store_true", help="exit 0 if a worker reported healthy recently"
    )
    worker.set_defaults(handler=_worker)


def _operator_commands(commands: Commands) -> None:
    migrate = _command(
        commands, "migrate", "upgrade the database schema to the latest revision",
        "database", "embedded",
    )  # fmt: skip
    migrate.set_defaults(handler=_migrate)
    verify = _command(
        commands,
        "verify-ledger",
        "check every ledger invariant over what was written since the last clean run "
        "(the first run reads everything); exit 1 if one fails",
        "database", "embedded",
    )  # fmt: skip
    verify.add_argument(
        "--full", action="store_true", help="read every posting and record a fresh checkpoint"
    )
    verify.set_defaults(handler=_verify_ledger)
    export = _command(commands, "export-schema", "print the served GraphQL SDL")
    export.add_argument("--output", type=Path, help="write to this file instead of stdout")
    export.set_defaults(handler=_export_schema)


def _users_parser(commands: Commands) -> None:
    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create = _command(
        users, "create", "create a user; prints its API token last", "database", "embedded"
    )
    create.add_argument("email")
    kind = create.add_mutually_exclusive_group()
    kind.add_argument("--staff", action="store_true", help="platform billing staff")
    kind.add_argument(
        "--integration",
        action="store_true",
        help="the ad server: may call recordSpend, and move no customer's money otherwise",
    )
    create.set_defaults(handler=_users_create)


def _members_parser(commands: Commands) -> None:
    members = commands.add_parser("members", help="manage business center members")
    actions = members.add_subparsers(dest="action", required=True)
    add = _command(
        actions, "add", "add an existing user to a business center", "database", "embedded"
    )
    add.add_argument("business_center_id", help="numeric id or GraphQL global id")
    add.add_argument("email")
    add.add_argument("role", type=Role, choices=list(Role))
    add.add_argument("--by", required=True, help="email of an ADMIN of the business center")
    add.set_defaults(handler=_members_add)


def _jobs_parser(commands: Commands) -> None:
    jobs = commands.add_parser("jobs", help="run jobs by hand").add_subparsers(
        dest="action", required=True
    )
    run = _command(
        jobs,
        "run",
        "run one job for a given instant, outside the worker",
        "database", "redis", "embedded", "payments", "billing", "webhooks",
    )  # fmt: skip
    run.add_argument("name", choices=sorted(JOBS))
    run.add_argument(
        "--now", metavar="ISO", help="e.g. 2026-11-22T00:00:00+00:00 (default: the clock's now)"
    )
    run.set_defaults(handler=_jobs_run)


def _positive(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a positive whole number")
    return int(raw)


if __name__ == "__main__":  # `python -m adledger.app.cli`, where the script is not on PATH
    sys.exit(main())
