"""The transactional outbox (docs/operations.md, "Outbox"): what is to happen after a
commit (a provider call) is declared as data in the same transaction as the change that
asks for it, so it is never lost between the commit and the call: the process that
committed runs it at once (services/effects.py), a worker (jobs/outbox.py) runs what was
left undone. Services declare; they never commit and never run effects themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.store import outbox as repo

# The process that committed runs its effects at once; the worker leaves them that long.
GRACE = timedelta(seconds=30)
_ADDED = "adledger_outbox_added"


@dataclass(frozen=True, slots=True)
class Effect:
    kind: str
    payload: dict[str, Any]
    key: str
    """Named by what it acts on (`invoice:123:issue`): declared twice, it is one effect."""


async def add(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    key: str,
    now: datetime | None = None,
) -> None:
    """Declare an effect in the session's transaction (idempotent by `key`). The session
    remembers it, so the edge runs it right after the commit."""
    await repo.insert(session, kind, payload, key, (now or clock.now()) + GRACE)
    session.info.setdefault(_ADDED, []).append(key)


async def declare(session: AsyncSession, effect: Effect, now: datetime | None = None) -> None:
    await add(session, effect.kind, effect.payload, effect.key, now)


def added(session: AsyncSession) -> list[str]:
    """The keys declared in the session since the last call (the edge asks after a commit
    or a rollback), in the order they were declared."""
    keys: list[str] = session.info.pop(_ADDED, [])
    return list(dict.fromkeys(keys))


async def drop(session: AsyncSession, key: str, now: datetime, reason: str) -> None:
    """The effect is not to run: what it was for is taken back in this transaction."""
    await repo.drop(session, key, now, reason)
