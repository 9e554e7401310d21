"""The embedded servers must work end to end with the clients the app really uses
(SQLAlchemy+asyncpg, redis.asyncio, arq) and keep their data across a restart."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from arq.connections import RedisSettings, create_pool
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from adledger.app.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    postgres_reachable,
    redis_reachable,
)


@contextlib.contextmanager
def embedded_servers(data_dir: Path) -> Iterator[tuple[EmbeddedPostgres, EmbeddedRedis]]:
    postgres = EmbeddedPostgres.start(data_dir / "postgres")
    try:
        redis = EmbeddedRedis.start(data_dir / "redis")
        try:
            yield postgres, redis
        finally:
            redis.stop()
    finally:
        postgres.stop()


async def sql(url: str, statement: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


async def test_servers_serve_real_clients_and_keep_data_across_restart(tmp_path: Path) -> None:
    with embedded_servers(tmp_path) as (postgres, redis):
        assert postgres.url.startswith("postgresql+asyncpg://")
        assert redis.url.startswith("unix://")
        assert postgres_reachable(postgres.url)
        assert redis_reachable(redis.url)

        assert await sql(postgres.url, "SELECT 1") == [(1,)]
        await sql(postgres.url, "CREATE TABLE survivor (id int)")

        client = Redis.from_url(redis.url)
        try:
            await client.set("greeting", "hello")
            assert await client.get("greeting") == b"hello"
        finally:
            await client.aclose()

        pool = await create_pool(RedisSettings.from_dsn(redis.url))
        try:
            assert await pool.ping()
        finally:
            await pool.aclose()

    postgres.stop()  # idempotent
    redis.stop()
    assert not postgres_reachable(postgres.url)
    assert not redis_reachable(redis.url)

    with embedded_servers(tmp_path) as (postgres, redis):
        assert await sql(postgres.url, "SELECT to_regclass('survivor') IS NOT NULL") == [(True,)]
        client = Redis.from_url(redis.url)
        try:
            assert await client.get("greeting") == b"hello"
        finally:
            await client.aclose()


async def test_postgres_copes_with_whitespace_in_data_dir_and_database_name(
    tmp_path: Path,
) -> None:
    # macOS keeps app data under "Application Support"; pgserver alone fails on it.
    postgres = EmbeddedPostgres.start(tmp_path / "Application Support" / "pg", "ad ledger's")
    try:
        assert await sql(postgres.url, "SELECT current_database()") == [("ad ledger's",)]
    finally:
        postgres.stop()


def test_reachability_is_false_when_nothing_listens(tmp_path: Path) -> None:
    missing_socket_dir = tmp_path / "nothing-here"
    assert not postgres_reachable(f"postgresql+asyncpg://u@:5432/db?host={missing_socket_dir}")
    assert not postgres_reachable("postgresql+asyncpg://u@127.0.0.1:1/db", timeout=0.5)
    assert not redis_reachable(f"unix://{missing_socket_dir}/redis.sock")
    assert not redis_reachable("redis://127.0.0.1:1/0", timeout=0.5)


def test_checking_that_pgserver_is_installed_says_nothing() -> None:
    """`adledger dev` checks the embedded servers are installed before announcing them;
    the check must not print platformdirs' warning about XDG_RUNTIME_DIR either."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    code = "from adledger.app.embedded import embedded_installed; embedded_installed('pgserver')"

    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, text=True
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
