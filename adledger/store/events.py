"""Partner events' queries (migration 0018): write a transaction's events, number a
center's committed ones under its counter's lock, read the feed.

The writes run from the session's before-commit hook (services/events.py), where only the
synchronous Session is at hand: those functions take a `Session`."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import BigInteger, bindparam, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from adledger.store import locks, raw
from adledger.store.models import Base, Event, EventSequence

M = TypeVar("M", bound=Base)


def insert_events_numbered(session: Session, rows: Sequence[dict[str, Any]], limit: int) -> None:
    """The transaction's events, numbered: written and their centers' counters locked
    (ascending center id) in one statement, then numbered on from each counter in one more
    (`number_pending`). Called right before the commit, so a counter is held only by the
    numbering and the commit that follows: numbers are gapless and show in commit order."""
    locks.register(session, locks.Level.EVENT_SEQUENCE)
    centers = sorted({row["business_center_id"] for row in rows})
    found = raw.fetch_sync(session, _INSERT_EVENTS_LOCKING, *_columns(rows), centers)
    number_pending(session, _counters(session, centers, found), limit)


def number_centers(session: Session, center_ids: Sequence[int], limit: int) -> int:
    """Every committed, unnumbered event of these centers numbered, their counters locked
    in ascending id in one statement (the one order: two numberings sharing centers queue
    instead of deadlocking); answers how many."""
    locks.register(session, locks.Level.EVENT_SEQUENCE)
    centers = sorted(set(center_ids))
    first = _counters(session, centers, raw.fetch_sync(session, _LOCK_SEQUENCES, centers))
    last = number_pending(session, first, limit)
    return sum(last[c] - first[c] for c in first)


def _counters(session: Session, centers: list[int], locked: Sequence[Any]) -> dict[int, int]:
    """The centers' last numbers from their locked counter rows; a center without one yet
    gets it made, and locked (two statements more, once per center ever)."""
    lasts = {row[0]: row[1] for row in locked}
    if len(lasts) < len(centers):
        raw.fetch_sync(session, _NEW_SEQUENCES, [c for c in centers if c not in lasts])
        lasts = {row[0]: row[1] for row in raw.fetch_sync(session, _LOCK_SEQUENCES, centers)}
    return lasts


def number_pending(session: Session, lasts: dict[int, int], limit: int) -> dict[int, int]:
    """The unnumbered events of each center (the caller holds their counters), numbered on
    from its last number in id order, `limit` per center and statement (a backlog takes a
    few); answers each center's new last number."""
    last, todo = dict(lasts), dict(lasts)
    while todo:
        rows = raw.fetch_sync(session, _NUMBER_MANY, *_lasts(todo), limit)
        moved = {row[0]: row[1] for row in rows}
        last.update(moved)
        todo = {c: moved[c] for c in todo if moved.get(c, todo[c]) - todo[c] >= limit}
    return last


def _columns(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [
        [row["business_center_id"] for row in rows],
        [row["type"] for row in rows],
        [row["api_version"] for row in rows],
        [row["subject_type"] for row in rows],
        [row["subject_id"] for row in rows],
        [json.dumps(row["data"]) for row in rows],
        [row["created_at"] for row in rows],
    ]


def _lasts(lasts: dict[int, int]) -> tuple[list[int], list[int]]:
    centers = list(lasts)
    return centers, [lasts[c] for c in centers]


# The events in the rows' order (ids handed out so), and the counters of the centers they
# belong to locked in ascending id: the INSERT runs to completion whether or not the
# SELECT reads it, and an event's insert takes no lock a counter's holder waits for.
_INSERT_EVENTS_LOCKING = (
    "WITH e AS (INSERT INTO events "
    "(business_center_id, type, api_version, subject_type, subject_id, data, created_at) "
    "SELECT r.c, r.t, r.v, r.st, r.si, CAST(r.d AS jsonb), r.at FROM unnest("
    "$1::bigint[], $2::varchar[], $3::varchar[], $4::varchar[], $5::bigint[], $6::text[], "
    "$7::timestamptz[]) WITH ORDINALITY AS r(c, t, v, st, si, d, at, n) ORDER BY r.n) "
    "SELECT business_center_id, last_sequence FROM event_sequences "
    "WHERE business_center_id = ANY($8::bigint[]) ORDER BY business_center_id "
    "FOR NO KEY UPDATE"
)


def current_rows(session: Session, model: type[M], ids: Sequence[int]) -> dict[int, M]:
    """Rows of `model` by id, as this transaction has them now (for snapshots)."""
    if not ids:
        return {}
    stmt = select(model).where(model.id.in_(ids))  # type: ignore[attr-defined]
    found = session.scalars(stmt.execution_options(populate_existing=True))
    return {row.id: row for row in found}  # type: ignore[attr-defined]


_LOCK_SEQUENCES = (
    "SELECT business_center_id, last_sequence FROM event_sequences "
    "WHERE business_center_id = ANY($1::bigint[]) ORDER BY business_center_id "
    "FOR NO KEY UPDATE"
)
_NEW_SEQUENCES = (
    "INSERT INTO event_sequences (business_center_id, last_sequence) "
    "SELECT c, 0 FROM unnest($1::bigint[]) AS c ORDER BY c "
    "ON CONFLICT (business_center_id) DO NOTHING"
)


# Per center, the first `limit` events still to number, by id, numbered on from its last
# number, and its counter moved on as far: one statement, a LATERAL read per center along
# ix_events_unsequenced. It sees only committed events and the transaction's own.
_NUMBER_MANY = (
    "WITH lasts AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS l(center, last)), "
    "todo AS ("
    "  SELECT f.id, f.created_at, l.center,"
    "    l.last + row_number() OVER (PARTITION BY l.center ORDER BY f.id) AS seq"
    "  FROM lasts l CROSS JOIN LATERAL ("
    "    SELECT id, created_at FROM events"
    "    WHERE business_center_id = l.center AND sequence IS NULL ORDER BY id LIMIT $3"
    "  ) AS f"
    "), numbered AS ("
    "  UPDATE events e SET sequence = todo.seq FROM todo"
    "  WHERE e.id = todo.id AND e.created_at = todo.created_at AND e.sequence IS NULL"
    "  RETURNING todo.center"
    "), moved AS (SELECT center, count(*) AS n FROM numbered GROUP BY center) "
    "UPDATE event_sequences s SET last_sequence = l.last + moved.n FROM moved "
    "JOIN lasts l ON l.center = moved.center WHERE s.business_center_id = moved.center "
    "RETURNING s.business_center_id, s.last_sequence"
)


async def last_sequence(session: AsyncSession, center_id: int) -> int:
    """The center's last numbered event's sequence (0: none yet), read without a lock:
    where a reader starting "from now" begins (`adledger events listen`)."""
    stmt = select(EventSequence.last_sequence).where(EventSequence.business_center_id == center_id)
    return int((await session.execute(stmt)).scalar_one_or_none() or 0)


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
