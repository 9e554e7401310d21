"""What every benchmark needs: PostgreSQL and Redis (the configured or local ones, else
embedded), a freshly migrated database, and the API in a child process behind uvicorn, so
client and server never share an interpreter (and, for bench/load.py, worker processes).

    python bench/_stack.py --serve-port PORT    (what `api_process` starts)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from adledger.app.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    postgres_reachable,
    redis_reachable,
)
from adledger.app.settings import Settings
from adledger.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "adledger_bench"
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"


@contextlib.contextmanager
def servers(default_redis_url: str = DEFAULT_REDIS_URL) -> Iterator[tuple[str, str]]:
    """BENCH_DATABASE_ADMIN_URL / BENCH_REDIS_URL (or the local defaults) when they answer,
    else embedded servers under .adledger/bench-*."""
    admin_url = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", default_redis_url)
    with contextlib.ExitStack() as stack:
        if not postgres_reachable(admin_url):
            postgres = EmbeddedPostgres.start(ROOT / ".adledger" / "bench-pg", "postgres")
            stack.callback(postgres.stop)
            admin_url = postgres.url
        if not redis_reachable(redis_url):
            redis = EmbeddedRedis.start(ROOT / ".adledger" / "bench-redis")
            stack.callback(redis.stop)
            redis_url = redis.url
        yield admin_url, redis_url


def fresh_database(admin_url: str, name: str = BENCH_DATABASE) -> str:
    """The bench database, dropped, created and migrated; answers its URL. BENCH_DATABASE_SUFFIX
    names another (benches run side by side from several checkouts each keep their own)."""
    name += os.environ.get("BENCH_DATABASE_SUFFIX", "")
    asyncio.run(_recreate_database(admin_url, name))
    url = make_url(admin_url).set(database=name).render_as_string(False)
    upgrade(url)
    return url


async def _recreate_database(admin_url: str, name: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def api_process(
    database_url: str,
    redis_url: str,
    workers: int = 1,
    *,
    bare: bool = False,
    log: Path | None = None,
) -> Iterator[str]:
    """The API on a free loopback port in a child process (with `workers` > 1, as
    `adledger serve --workers N` runs it); answers its base URL. `bare`: instead, a bare
    Strawberry app with one field, served the same way (the baseline adledger's own
    per-request overhead is measured against). `log`: its output goes to this file."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    env["PAYMENT_PROVIDER"] = "sandbox"  # a benchmark takes no payments
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-port", str(port)]
    if bare:
        command.append("--bare")
    elif workers > 1:
        serve = ["-m", "adledger.app.cli", "serve", "--workers", str(workers)]
        command = [sys.executable, *serve, "--host", "127.0.0.1", "--port", str(port)]
    with contextlib.ExitStack() as files:
        output = files.enter_context(log.open("w")) if log is not None else None
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_up(base_url, process, "/healthz" if bare else "/readyz")
        yield base_url
    finally:
        _stop(process)


@contextlib.contextmanager
def worker_processes(
    database_url: str, redis_url: str, count: int, log_dir: Path
) -> Iterator[None]:
    """`count` `adledger worker` processes, each logging to log_dir/worker-N.log; up once
    their health key is in Redis."""
    from adledger.app.worker import HEALTH_CHECK_KEY  # only here: the API child needs none

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    env["PAYMENT_PROVIDER"] = "sandbox"
    command = [sys.executable, "-m", "adledger.app.cli", "worker"]
    with contextlib.ExitStack() as stack:
        workers = []
        for n in range(count):
            with (log_dir / f"worker-{n}.log").open("w") as log:
                workers.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
            stack.callback(_stop, workers[-1])
        client = stack.enter_context(redis.Redis.from_url(redis_url))
        deadline = time.monotonic() + 60
        while not client.exists(HEALTH_CHECK_KEY):
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise SystemExit(f"the workers did not start; see {log_dir}")
            time.sleep(0.1)
        yield


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # SIGTERM: uvicorn and arq shut down gracefully
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _serve(port: int) -> None:
    import uvicorn

    from adledger.app.asgi import create_app, settle_heap

    app = create_app(Settings())  # DATABASE_URL and REDIS_URL come from the parent
    settle_heap()  # as `adledger serve` does
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _serve_bare(port: int) -> None:
    """One field, no context, no database: the floor of Strawberry over uvicorn."""
    import strawberry
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from strawberry.asgi import GraphQL

    @strawberry.type
    class Query:
        hello: str = "world"

    async def healthz(_: object) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    graphql = GraphQL(strawberry.Schema(query=Query), graphql_ide=None)
    app = Starlette(
        routes=[Route("/graphql", graphql, methods=["GET", "POST"]), Route("/healthz", healthz)]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes], path: str = "/readyz") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the API process exited before it answered")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}{path}", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit("the API did not become ready within 30 s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve-port", type=int, required=True)
    parser.add_argument("--bare", action="store_true", help="a bare Strawberry app instead")
    given = parser.parse_args()
    (_serve_bare if given.bare else _serve)(given.serve_port)
