"""Partner events' queries (migration 0018): write a transaction's events, number a
center's committed ones under its counter's lock, read the feed.

The writes run from the session's before-commit hook (services/events.py), where only the
synchronous Session is at hand: those functions take a `Session`."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, bindparam, func, select, text, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from adledger.store import locks, raw
from adledger.store.models import Base, Event, EventSequence

M = TypeVar("M", bound=Base)


def insert_events_and_sequencing(
    session: Session,
    rows: Sequence[dict[str, Any]],
    effect: tuple[str, str, str],
    now: datetime,
    due_at: datetime,
) -> dict[int, int]:
    """The events (ids handed out in the rows' order) and, for each center among them, the
    outbox row of the effect that numbers them, named after its first event, in one
    statement: `effect` is (kind, key prefix, key suffix), the key being prefix + first
    event id + suffix and the payload the center's id. Answers each center's first event
    id. Declared twice (a replay), an effect stays one row."""
    kind, prefix, suffix = effect
    params = {
        "centers": [row["business_center_id"] for row in rows],
        "types": [row["type"] for row in rows],
        "versions": [row["api_version"] for row in rows],
        "subject_types": [row["subject_type"] for row in rows],
        "subject_ids": [row["subject_id"] for row in rows],
        "datas": [json.dumps(row["data"]) for row in rows],
        "ats": [row["created_at"] for row in rows],
        "kind": kind,
        "prefix": prefix,
        "suffix": suffix,
        "now": now,
        "due": due_at,
    }
    return {center: first for center, first in session.execute(_INSERT_EVENTS, params).all()}


_INSERT_EVENTS = text(
    "WITH e AS (INSERT INTO events "
    "(business_center_id, type, api_version, subject_type, subject_id, data, created_at) "
    "SELECT r.c, r.t, r.v, r.st, r.si, CAST(r.d AS jsonb), r.at FROM unnest("
    "CAST(:centers AS bigint[]), CAST(:types AS varchar[]), CAST(:versions AS varchar[]), "
    "CAST(:subject_types AS varchar[]), CAST(:subject_ids AS bigint[]), "
    "CAST(:datas AS text[]), CAST(:ats AS timestamptz[])) "
    "WITH ORDINALITY AS r(c, t, v, st, si, d, at, n) ORDER BY r.n "
    "RETURNING id, business_center_id), "
    "firsts AS (SELECT business_center_id, min(id) AS first FROM e GROUP BY business_center_id), "
    "effects AS (INSERT INTO outbox "
    "(kind, payload, idempotency_key, created_at, attempts, next_attempt_at) "
    "SELECT CAST(:kind AS varchar), "
    "jsonb_build_object('business_center_id', f.business_center_id), "
    "CAST(:prefix AS varchar) || f.first || CAST(:suffix AS varchar), "
    "CAST(:now AS timestamptz), 0, CAST(:due AS timestamptz) FROM firsts f "
    "ON CONFLICT (idempotency_key) DO NOTHING) "
    "SELECT business_center_id, first FROM firsts ORDER BY first"
)


def current_rows(session: Session, model: type[M], ids: Sequence[int]) -> dict[int, M]:
    """Rows of `model` by id, as this transaction has them now (for snapshots)."""
    if not ids:
        return {}
    stmt = select(model).where(model.id.in_(ids))  # type: ignore[attr-defined]
    found = session.scalars(stmt.execution_options(populate_existing=True))
    return {row.id: row for row in found}  # type: ignore[attr-defined]


async def lock_sequence(session: AsyncSession, center_id: int) -> int:
    """The center's last sequence number, its counter row locked (made on first use: one
    plain statement as a rule, three the first time)."""
    locks.register(session, locks.Level.EVENT_SEQUENCE)
    last = await raw.fetchval(session, _LOCK_SEQUENCE, center_id)
    if last is None:
        await session.execute(
            pg_insert(EventSequence)
            .values(business_center_id=center_id, last_sequence=0)
            .on_conflict_do_nothing(index_elements=["business_center_id"])
        )
        last = await raw.fetchval(session, _LOCK_SEQUENCE, center_id)
    return int(last)


# Every commit that wrote events runs it after: a plain statement.
_LOCK_SEQUENCE = (
    "SELECT last_sequence FROM event_sequences WHERE business_center_id = $1 FOR NO KEY UPDATE"
)


async def last_sequence(session: AsyncSession, center_id: int) -> int:
    """The center's last numbered event's sequence (0: none yet), read without a lock:
    where a reader starting "from now" begins (`adledger events listen`)."""
    stmt = select(EventSequence.last_sequence).where(EventSequence.business_center_id == center_id)
    return int((await session.execute(stmt)).scalar_one_or_none() or 0)


# The first `limit` events of the center still to number, by id, numbered on from `last`,
# and the counter moved on as far (not written when nothing was numbered): one statement.
# It sees only committed events: one whose transaction is still open is numbered by the
# sequencer its own commit runs.
_NUMBER = (
    "WITH todo AS ("
    "  SELECT id, created_at, row_number() OVER (ORDER BY id) AS rn FROM ("
    "    SELECT id, created_at FROM events"
    "    WHERE business_center_id = $2 AND sequence IS NULL ORDER BY id LIMIT $3"
    "  ) AS first_ones"
    "), numbered AS ("
    "  UPDATE events e SET sequence = $1 + todo.rn FROM todo"
    "  WHERE e.id = todo.id AND e.created_at = todo.created_at AND e.sequence IS NULL"
    "  RETURNING 1"
    ") "
    "UPDATE event_sequences SET last_sequence = $1 + (SELECT count(*) FROM numbered) "
    "WHERE business_center_id = $2 AND EXISTS (SELECT 1 FROM numbered) "
    "RETURNING last_sequence"
)


async def number_pending(session: AsyncSession, center_id: int, last: int, limit: int) -> int:
    """Numbers up to `limit` unnumbered events of the center after `last` (the caller
    holds the counter, `lock_sequence`) and moves the counter on; answers the new last
    number. A plain statement (every commit that wrote events runs it after)."""
    moved = await raw.fetchval(session, _NUMBER, last, center_id, limit)
    return last if moved is None else int(moved)


async def feed_pages(
    session: AsyncSession,
    center_ids: Sequence[int],
    *,
    after: int | None,
    limit: int,
    types: Sequence[str] | None,
) -> dict[int, list[Event]]:
    """Per center, up to `limit` numbered events after sequence `after`, in sequence
    order, of `types` only when given: one statement, a LATERAL read per center along
    its (business_center_id, sequence) index."""
    ids = bindparam("ids", list(center_ids), type_=ARRAY(BigInteger()))
    centers = select(func.unnest(ids).label("id")).subquery()
    page = (
        select(Event)
        .where(
            Event.business_center_id == centers.c.id,
            Event.sequence.is_not(None),
            Event.sequence > (after or 0),
        )
        .order_by(Event.sequence)
        .limit(limit)
    )
    if types is not None:
        page = page.where(Event.type.in_(list(types)))
    lateral = page.lateral()
    shown = aliased(Event, lateral)
    stmt = (
        select(shown)
        .select_from(centers)
        .join(lateral, true())
        .order_by(shown.business_center_id, shown.sequence)
    )
    pages: dict[int, list[Event]] = defaultdict(list)
    for row in await session.scalars(stmt):
        pages[row.business_center_id].append(row)
    return pages


async def events_by_ids(session: AsyncSession, ids: Sequence[int]) -> Sequence[Event]:
    return (await session.scalars(select(Event).where(Event.id.in_(ids)))).all()
