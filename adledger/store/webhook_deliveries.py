"""The delivery job's queries (deliver-webhooks, services/webhook_delivery.py): queue a
center's numbered events for its endpoints, claim the due messages of one endpoint for an
attempt, record the attempt, and forget the messages of a month of events being dropped.

Endpoint rows are taken FOR NO KEY UPDATE (store/locks.py: inserting a message or an
attempt that references the endpoint takes KEY SHARE on it, which FOR UPDATE would block),
first in every transaction of the job (`Level.SUBJECT`); its messages after it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store import locks
from adledger.store.models import Event, EventSequence
from adledger.store.webhook_models import WebhookAttempt, WebhookEndpoint, WebhookMessage

ENABLED = "ENABLED"
PENDING = "PENDING"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message claimed for one attempt: `attempt` is its number (1 for the first)."""

    id: int
    event_id: int
    event_created_at: datetime
    sequence: int
    attempt: int


# -- fan-out ---------------------------------------------------------------------------


async def endpoints_behind(session: AsyncSession, limit: int) -> list[int]:
    """Enabled endpoints whose cursor is behind their center's last numbered event, by id."""
    stmt = (
        select(WebhookEndpoint.id)
        .join(
            EventSequence,
            EventSequence.business_center_id == WebhookEndpoint.business_center_id,
        )
        .where(
            WebhookEndpoint.status == ENABLED,
            WebhookEndpoint.cursor < EventSequence.last_sequence,
        )
        .order_by(WebhookEndpoint.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def lock_endpoint(
    session: AsyncSession, endpoint_id: int, *, enabled_only: bool, skip_locked: bool = False
) -> WebhookEndpoint | None:
    """The endpoint, its row locked and read afresh; None if it is gone (or disabled, when
    `enabled_only`, or held by another transaction, when `skip_locked`)."""
    locks.register(session, locks.Level.SUBJECT)
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if enabled_only:
        stmt = stmt.where(WebhookEndpoint.status == ENABLED)
    stmt = stmt.with_for_update(key_share=True, skip_locked=skip_locked)
    found = await session.scalars(stmt.execution_options(populate_existing=True))
    return found.one_or_none()


async def last_sequence(session: AsyncSession, center_id: int) -> int:
    """The center's last numbered event (0: none yet), read without a lock: every event
    numbered up to it is committed, since the counter moves in the numbering's commit."""
    stmt = select(EventSequence.last_sequence).where(EventSequence.business_center_id == center_id)
    return int((await session.scalar(stmt)) or 0)


# The center's numbered events in (cursor, upto] the endpoint takes, queued as PENDING and
# due now; an event queued already (a replay, a run that died after its insert) is kept.
# `test.ping` goes only to the endpoint it is about, whatever that endpoint's filter.
_QUEUE = text(
    "INSERT INTO webhook_messages (endpoint_id, event_id, event_created_at, sequence, "
    "  status, attempts, next_attempt_at, created_at) "
    "SELECT :endpoint, e.id, e.created_at, e.sequence, 'PENDING', 0, :now, :now "
    "FROM events e "
    "WHERE e.business_center_id = :center AND e.sequence > :cursor AND e.sequence <= :upto "
    "  AND CASE WHEN e.type = 'test.ping' "
    "    THEN e.subject_type = 'WebhookEndpoint' AND e.subject_id = :endpoint "
    "    ELSE cardinality(CAST(:types AS varchar[])) = 0 "
    "      OR e.type = ANY(CAST(:types AS varchar[])) END "
    "ORDER BY e.sequence "
    "ON CONFLICT (endpoint_id, event_id) DO NOTHING"
)


async def queue_events(
    session: AsyncSession, endpoint: WebhookEndpoint, upto: int, now: datetime
) -> int:
    """Queues the events after the endpoint's cursor up to `upto` and moves its cursor
    there (the caller holds its row); answers how many messages were made."""
    params = {
        "endpoint": endpoint.id,
        "center": endpoint.business_center_id,
        "cursor": endpoint.cursor,
        "upto": upto,
        "types": list(endpoint.event_types),
        "now": now,
    }
    made = (await session.execute(_QUEUE, params)).rowcount  # type: ignore[attr-defined]
    await session.execute(
        update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id).values(cursor=upto)
    )
    return int(made)


# -- claims ------------------------------------------------------------------------------


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending, due, and not leased (or its lease ran out: its worker died)."""
    return and_(
        WebhookMessage.status == PENDING,
        WebhookMessage.next_attempt_at <= now,
        or_(WebhookMessage.leased_until.is_(None), WebhookMessage.leased_until <= now),
    )


async def endpoints_due(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Enabled endpoints with a message due and not leased at `now`, by id."""
    due = select(WebhookMessage.id).where(
        WebhookMessage.endpoint_id == WebhookEndpoint.id, _due(now)
    )
    stmt = (
        select(WebhookEndpoint.id)
        .where(WebhookEndpoint.status == ENABLED, due.exists())
        .order_by(WebhookEndpoint.id)
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def leases_held(session: AsyncSession, endpoint_id: int, now: datetime) -> int:
    """The endpoint's messages claimed and not yet answered (their lease runs past `now`)."""
    stmt = select(func.count()).where(
        WebhookMessage.endpoint_id == endpoint_id,
        WebhookMessage.status == PENDING,
        WebhookMessage.leased_until > now,
    )
    return int(await session.scalar(stmt) or 0)


async def claim(
    session: AsyncSession, endpoint_id: int, now: datetime, lease_until: datetime, limit: int
) -> list[Claimed]:
    """Up to `limit` due messages of the endpoint, first sequences first, leased until
    `lease_until` with their attempt counted (rows another claim holds are skipped)."""
    picked = (
        select(WebhookMessage.id)
        .where(WebhookMessage.endpoint_id == endpoint_id, _due(now))
        .order_by(WebhookMessage.sequence)
        .limit(limit)
        .with_for_update(key_share=True, skip_locked=True)
    )
    stmt = (
        update(WebhookMessage)
        .where(WebhookMessage.id.in_(picked.scalar_subquery()))
        .values(attempts=WebhookMessage.attempts + 1, leased_until=lease_until)
        .returning(
            WebhookMessage.id,
            WebhookMessage.event_id,
            WebhookMessage.event_created_at,
            WebhookMessage.sequence,
            WebhookMessage.attempts,
        )
    )
    rows = (await session.execute(stmt)).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.sequence)


async def events_of(session: AsyncSession, claimed: Sequence[Claimed]) -> dict[int, Event]:
    """The claimed messages' events, by id (one pruned meanwhile is missing)."""
    if not claimed:
        return {}
    keys = [(c.event_id, c.event_created_at) for c in claimed]
    stmt = select(Event).where(tuple_(Event.id, Event.created_at).in_(keys))
    return {row.id: row for row in await session.scalars(stmt)}


async def delete_messages(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(delete(WebhookMessage).where(WebhookMessage.id.in_(ids)))


# -- attempts ----------------------------------------------------------------------------


async def lock_message(session: AsyncSession, message_id: int) -> WebhookMessage | None:
    """The message, locked and read afresh (after its endpoint's row)."""
    stmt = (
        select(WebhookMessage)
        .where(WebhookMessage.id == message_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).one_or_none()


async def insert_attempt(session: AsyncSession, attempt: WebhookAttempt) -> None:
    session.add(attempt)
    await session.flush()


# -- pruning -----------------------------------------------------------------------------


async def delete_messages_between(session: AsyncSession, start: datetime, end: datetime) -> int:
    """The messages (their attempts cascade) of the events created in [start, end)."""
    stmt = delete(WebhookMessage).where(
        WebhookMessage.event_created_at >= start, WebhookMessage.event_created_at < end
    )
    return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]
