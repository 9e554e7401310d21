"""A pooled connection PostgreSQL dropped is replaced at checkout, not handed to a request."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from adledger.store import db


@pytest.mark.parametrize("ping_after_idle", [0.0, db.PING_AFTER_IDLE_SECONDS])
async def test_a_connection_postgresql_dropped_is_replaced(
    database_url, engine, monkeypatch, ping_after_idle
) -> None:
    # given a pool of one connection, back in the pool (pinged when idle for
    # `ping_after_idle`: 0 pings it, the default trusts it but notices a closed socket)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", ping_after_idle)
    pool = db.make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with pool.connect() as conn:
            dropped = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # when PostgreSQL ends its backend (a restart, a failover, an administrator)
        async with engine.connect() as admin:
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})
        await asyncio.sleep(0.2)
        # then the next request gets a new connection, not an error
        async with pool.connect() as conn:
            backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert backend != dropped
    finally:
        await pool.dispose()
