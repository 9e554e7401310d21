"""The outbox's queries (migration 0017): declare an effect, claim it, mark how it went."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.store import raw
from adledger.store.models import OutboxEffect as Outbox

_CLAIMED = (Outbox.id, Outbox.kind, Outbox.payload, Outbox.idempotency_key, Outbox.attempts)


def _insert(kind: str, payload: dict[str, Any], key: str, due_at: datetime) -> Any:
    """Declared twice (a replayed request), the effect stays one row."""
    return (
        pg_insert(Outbox)
        .values(kind=kind, payload=payload, idempotency_key=key, next_attempt_at=due_at)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )


_INSERT = """
INSERT INTO outbox (kind, payload, idempotency_key, next_attempt_at, created_at, attempts)
VALUES ($1, $2::jsonb, $3, $4, $5, 0) ON CONFLICT (idempotency_key) DO NOTHING"""


async def insert(
    session: AsyncSession, kind: str, payload: dict[str, Any], key: str, due_at: datetime
) -> None:
    """Declared twice (a replayed request), the effect stays one row."""
    now = clock.now()
    await raw.execute(session, _INSERT, kind, json.dumps(payload), key, due_at, now)


def _free(now: datetime) -> Any:
    return and_(
        Outbox.done_at.is_(None), or_(Outbox.locked_until.is_(None), Outbox.locked_until <= now)
    )


async def claim_key(
    session: AsyncSession, key: str, now: datetime, lease: timedelta
) -> Row[Any] | None:
    """The effect of this key, claimed for `lease`, unless it is done or someone holds it."""
    stmt = (
        update(Outbox)
        .where(Outbox.idempotency_key == key, _free(now))
        .values(locked_until=now + lease, attempts=Outbox.attempts + 1)
        .returning(*_CLAIMED)
    )
    return (await session.execute(stmt)).first()


_CLAIM_KEYS = """
UPDATE outbox
SET attempts = attempts + 1,
    locked_until = CASE WHEN kind = ANY($4::varchar[]) THEN NULL ELSE $3::timestamptz END,
    done_at = CASE WHEN kind = ANY($4::varchar[]) THEN $2::timestamptz END
WHERE idempotency_key = ANY($1::varchar[]) AND done_at IS NULL
  AND (locked_until IS NULL OR locked_until <= $2::timestamptz)
RETURNING id, kind, payload, idempotency_key, attempts"""


async def claim_keys(
    session: AsyncSession,
    keys: Sequence[str],
    now: datetime,
    lease: timedelta,
    done_kinds: Sequence[str],
) -> list[raw.Row]:
    """`claim_key` for several keys in one statement; the effects of `done_kinds` are
    marked done by it too: their work runs in this same transaction, so they are done
    exactly when it commits (rolled back, they are free again). In no order."""
    return await raw.fetch(session, _CLAIM_KEYS, list(keys), now, now + lease, list(done_kinds))


async def claim_key_done_in_claim(
    session: AsyncSession,
    key: str,
    now: datetime,
    lease: timedelta,
    done_kinds: Sequence[str],
) -> Any | None:
    """`claim_keys` for one key: claimed (and, of `done_kinds`, marked done) or None."""
    rows = await claim_keys(session, [key], now, lease, done_kinds)
    return rows[0] if rows else None


async def claim_due(
    session: AsyncSession, now: datetime, lease: timedelta, limit: int
) -> Sequence[Row[Any]]:
    """Up to `limit` effects due and free, oldest due first, claimed for `lease`; rows
    another transaction is claiming are skipped, not waited for."""
    due = (
        select(Outbox.id)
        .where(Outbox.next_attempt_at <= now, _free(now))
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(Outbox)
        .where(Outbox.id.in_(due.scalar_subquery()))
        .values(locked_until=now + lease, attempts=Outbox.attempts + 1)
        .returning(*_CLAIMED)
    )
    return (await session.execute(stmt)).all()


_MARK_DONE = """
UPDATE outbox SET done_at = $2, locked_until = NULL WHERE id = $1 AND done_at IS NULL"""


async def mark_done(
    session: AsyncSession, effect_id: int, now: datetime, note: str | None = None
) -> None:
    if note is None:
        await raw.execute(session, _MARK_DONE, effect_id, now)
        return
    stmt = update(Outbox).where(Outbox.id == effect_id, Outbox.done_at.is_(None))
    values: dict[str, Any] = {"done_at": now, "locked_until": None}
    if note is not None:
        values["last_error"] = note
    await session.execute(stmt.values(**values))


async def mark_failed(
    session: AsyncSession, effect_id: int, error: str, next_attempt_at: datetime
) -> None:
    """The claim is given back: the effect is tried again from `next_attempt_at`."""
    stmt = update(Outbox).where(Outbox.id == effect_id, Outbox.done_at.is_(None))
    await session.execute(
        stmt.values(last_error=error, next_attempt_at=next_attempt_at, locked_until=None)
    )


async def drop(session: AsyncSession, key: str, now: datetime, reason: str) -> None:
    """Done without running: what it was for was taken back in this transaction."""
    stmt = update(Outbox).where(Outbox.idempotency_key == key, Outbox.done_at.is_(None))
    await session.execute(stmt.values(done_at=now, locked_until=None, last_error=reason))


async def effect(session: AsyncSession, key: str) -> Outbox | None:
    stmt = select(Outbox).where(Outbox.idempotency_key == key)
    return await session.scalar(stmt.execution_options(populate_existing=True))
