"""The request context shared by every operation of a WebSocket."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.app.state import AppState
from adledger.resolvers.context import RequestContext


async def test_closing_waits_for_the_statement_in_flight(sessions, db) -> None:
    # given one operation of a socket in the middle of a read
    state = AppState(sessions=sessions, redis=None, provider=None, billing=None)  # type: ignore[arg-type]
    ctx = RequestContext(state, None)
    reading, resume = asyncio.Event(), asyncio.Event()

    async def slow_read(session: AsyncSession) -> int:
        await session.execute(text("SELECT 1"))
        reading.set()
        await resume.wait()
        return (await session.execute(text("SELECT 2"))).scalar_one()

    read = asyncio.create_task(ctx.read(slow_read))
    await reading.wait()
    # when another operation of the socket ends and closes the context
    close = asyncio.create_task(ctx.close())
    for _ in range(10):
        await asyncio.sleep(0)
    # then the close waits for the read, which finishes on its own session
    assert not close.done()
    resume.set()
    assert await read == 2
    await close
    assert ctx._session is None
