"""Partner webhook endpoints' queries (migration 0019): the endpoints of a center, one
endpoint locked for a change, messages queued by hand (redeliver, replay) and the
delivery log a member reads. The delivery job's own queries are store/webhook_deliveries.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, delete, func, select, text, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from adledger.store.locks import Level, register
from adledger.store.models import Event, EventSequence
from adledger.store.webhook_models import WebhookAttempt, WebhookEndpoint, WebhookMessage

PENDING = "PENDING"
TEST_PING = "test.ping"
SUBJECT_TYPE = "WebhookEndpoint"


async def endpoints_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[WebhookEndpoint]:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids))
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def endpoints_of_centers(
    session: AsyncSession, center_ids: Sequence[int]
) -> dict[int, list[WebhookEndpoint]]:
    """Each center's endpoints (at most 10 each), oldest first."""
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.business_center_id.in_(center_ids))
        .order_by(WebhookEndpoint.business_center_id, WebhookEndpoint.id)
    )
    found: dict[int, list[WebhookEndpoint]] = defaultdict(list)
    for row in await session.scalars(stmt.execution_options(populate_existing=True)):
        found[row.business_center_id].append(row)
    return found


async def count_of_center(session: AsyncSession, center_id: int) -> int:
    stmt = select(func.count()).where(WebhookEndpoint.business_center_id == center_id)
    return int(await session.scalar(stmt) or 0)


async def lock_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint | None:
    """The endpoint, held until the commit (a member's change against another's, or the
    delivery job's): the subject of the change, taken first."""
    register(session, Level.SUBJECT)
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .with_for_update(key_share=True)
    )
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def insert_endpoint(session: AsyncSession, **values: Any) -> WebhookEndpoint:
    row = WebhookEndpoint(**values)
    session.add(row)
    await session.flush()
    return row


async def delete_endpoint(session: AsyncSession, endpoint_id: int) -> None:
    """Its messages and attempts go with it (ON DELETE CASCADE)."""
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


async def last_sequence(session: AsyncSession, center_id: int) -> int:
    """The center's last event sequence number handed out; 0 before its first event."""
    stmt = select(EventSequence.last_sequence).where(EventSequence.business_center_id == center_id)
    return int(await session.scalar(stmt) or 0)


async def pending_due_now(session: AsyncSession, endpoint_id: int, now: datetime) -> int:
    """Its PENDING messages tried at the next pass (an endpoint enabled again); how many."""
    stmt = (
        update(WebhookMessage)
        .where(WebhookMessage.endpoint_id == endpoint_id, WebhookMessage.status == PENDING)
        .values(next_attempt_at=now, leased_until=None)
    )
    result: Any = await session.execute(stmt)
    return int(result.rowcount or 0)


async def numbered_event(session: AsyncSession, event_id: int) -> Event | None:
    """The event if it exists and is numbered (published)."""
    stmt = select(Event).where(Event.id == event_id, Event.sequence.is_not(None))
    return await session.scalar(stmt)


async def queue_event(session: AsyncSession, endpoint_id: int, event: Event, now: datetime) -> None:
    """The event's message for the endpoint, made or put back to PENDING and due now; its
    attempts keep counting (the delivery log numbers them on)."""
    stmt = pg_insert(WebhookMessage).values(
        endpoint_id=endpoint_id,
        event_id=event.id,
        event_created_at=event.created_at,
        sequence=event.sequence,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        leased_until=None,
        created_at=now,
    )
    await session.execute(
        stmt.on_conflict_do_update(
            constraint="uq_webhook_messages_endpoint_id",
            set_={"status": PENDING, "next_attempt_at": now, "leased_until": None},
        )
    )


@dataclass(frozen=True, slots=True)
class Replayed:
    queued: int
    last_sequence: int | None
    """The sequence of the last event queued; None when none was."""
    has_more: bool


# Up to :limit of the center's numbered events after :after the endpoint takes (its
# types, or every type; a test ping only if it names this endpoint), queued as
# `queue_event` does, in sequence order; and whether one more was there. One statement.
_REPLAY = text(
    "WITH picked AS ("
    "  SELECT id, created_at, sequence FROM events"
    "  WHERE business_center_id = :center AND sequence IS NOT NULL AND sequence > :after"
    "    AND (cardinality(:types) = 0 OR type = ANY(:types))"
    "    AND (type <> :ping"
    "      OR (subject_type = :subject AND subject_id = CAST(:endpoint AS bigint)))"
    "  ORDER BY sequence LIMIT CAST(:limit AS bigint) + 1"
    "), chosen AS ("
    "  SELECT * FROM picked ORDER BY sequence LIMIT :limit"
    "), queued AS ("
    "  INSERT INTO webhook_messages (endpoint_id, event_id, event_created_at, sequence,"
    "    status, attempts, next_attempt_at, leased_until, created_at)"
    "  SELECT CAST(:endpoint AS bigint), id, created_at, sequence, CAST(:pending AS text), 0,"
    "    CAST(:now AS timestamptz), NULL, CAST(:now AS timestamptz)"
    "  FROM chosen ORDER BY sequence"
    "  ON CONFLICT ON CONSTRAINT uq_webhook_messages_endpoint_id DO UPDATE SET"
    "    status = EXCLUDED.status, next_attempt_at = EXCLUDED.next_attempt_at,"
    "    leased_until = NULL"
    "  RETURNING sequence"
    ") "
    "SELECT (SELECT count(*) FROM queued) AS queued, (SELECT max(sequence) FROM queued) AS last,"
    " (SELECT count(*) FROM picked) > :limit AS more"
).bindparams(
    bindparam("types", type_=ARRAY(String())),
    bindparam("center"),
    bindparam("after"),
    bindparam("endpoint"),
    bindparam("limit"),
    bindparam("now"),
)


async def replay(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    after: int,
    limit: int,
    now: datetime,
) -> Replayed:
    params = {
        "center": endpoint.business_center_id,
        "after": after,
        "types": list(endpoint.event_types),
        "ping": TEST_PING,
        "subject": SUBJECT_TYPE,
        "endpoint": endpoint.id,
        "pending": PENDING,
        "limit": limit,
        "now": now,
    }
    row = (await session.execute(_REPLAY, params)).one()
    return Replayed(int(row.queued), None if row.last is None else int(row.last), bool(row.more))


async def delivery_pages(
    session: AsyncSession, endpoint_ids: Sequence[int], *, limit: int, after_id: int | None
) -> dict[int, list[tuple[WebhookAttempt, Event]]]:
    """Per endpoint, up to `limit` attempts before attempt `after_id`, newest first, each
    with its event (an attempt whose event was pruned is not shown): one statement, a
    LATERAL read per endpoint along its (endpoint_id, id) index."""
    ids = bindparam("ids", list(endpoint_ids), type_=ARRAY(BigInteger()))
    endpoints = select(func.unnest(ids).label("id")).subquery()
    page = (
        select(WebhookAttempt, Event)
        .join(
            Event,
            (Event.id == WebhookAttempt.event_id)
            & (Event.created_at == WebhookAttempt.event_created_at),
        )
        .where(WebhookAttempt.endpoint_id == endpoints.c.id, Event.sequence.is_not(None))
        .order_by(WebhookAttempt.id.desc())
        .limit(limit)
    )
    if after_id is not None:
        page = page.where(WebhookAttempt.id < after_id)
    lateral = page.lateral()
    attempt = aliased(WebhookAttempt, lateral)
    event = aliased(Event, lateral)
    stmt = (
        select(attempt, event)
        .select_from(endpoints)
        .join(lateral, true())
        .order_by(attempt.endpoint_id, attempt.id.desc())
    )
    pages: dict[int, list[tuple[WebhookAttempt, Event]]] = defaultdict(list)
    for found_attempt, found_event in (await session.execute(stmt)).all():
        pages[found_attempt.endpoint_id].append((found_attempt, found_event))
    return pages
