"""Partner events (issue 26, docs/integrations.md): every money-relevant change appends
an event to its own transaction, so an event is never written for a change that rolled
back, nor lost for one that committed.

A service records an event (`record`, `record_subject`, `record_campaign`); the session
keeps it, and its commit writes all of the transaction's events and numbers them (a
before-commit hook: the snapshots show the objects as the transaction leaves them, a
campaign's credit and stop reason included, set after its status). They are written with
their centers' counters locked, the last locks of the one lock order, and numbered on from
each counter in the next statement: a counter is held only by that and the commit, so
numbers are gapless and increase in commit order, and an event is never seen unnumbered.
(Issue 28: they were numbered in a transaction of their own after the commit, declared as
an `events.sequence` effect. That cost every event-writing request a second transaction
and a second WAL flush for no ordering it did not already have. `run-outbox` still runs
such an effect a process left behind: `sequence_centers`.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from adledger.domain.campaigns import CampaignStatus
from adledger.domain.events import API_VERSION, EventType, bounded, campaign_event_types
from adledger.domain.ids import to_global_id
from adledger.services import event_data as snapshots
from adledger.services.event_data import Data, SpendTotals
from adledger.store import events as repo
from adledger.store.models import Campaign, Invoice, TopUp

SEQUENCE_BATCH = 1000
"""Events one statement of the sequencer numbers."""

_PENDING = "adledger_events_pending"

# Subjects whose snapshot is read when the transaction commits, by their API type name.
_SUBJECTS: dict[str, tuple[type[Any], Any]] = {
    "Invoice": (Invoice, snapshots.invoice),
    "TopUp": (TopUp, snapshots.top_up),
}


@dataclass(frozen=True, slots=True)
class _Pending:
    center_id: int
    type: EventType
    subject_type: str
    subject: Any
    """The subject's id, or (a campaign) its row: read at the commit."""
    data: Data | None
    """None: the subject's snapshot as the commit leaves it."""
    now: datetime


def _pending(session: AsyncSession | Session) -> list[_Pending]:
    found: list[_Pending] = session.info.setdefault(_PENDING, [])
    return found


async def record(
    session: AsyncSession,
    center_id: int,
    type: EventType,
    subject_type: str,
    subject_id: int,
    data: Data,
    now: datetime,
) -> None:
    """Append one event with this snapshot to the session's transaction (written when it
    commits, gone if it rolls back), without a sequence yet."""
    _pending(session).append(_Pending(center_id, type, subject_type, subject_id, data, now))


async def record_subject(
    session: AsyncSession,
    center_id: int,
    type: EventType,
    subject_type: str,
    subject_id: int,
    now: datetime,
) -> None:
    """An event about an invoice or a top-up, its snapshot read as the transaction leaves
    it (when it commits)."""
    if subject_type not in _SUBJECTS:
        raise ValueError(f"no snapshot of {subject_type!r} is read at commit")
    _pending(session).append(_Pending(center_id, type, subject_type, subject_id, None, now))


def record_campaign(
    session: AsyncSession, campaign: Campaign, was: CampaignStatus, now: datetime
) -> None:
    """The events a campaign's status change is (`campaign_event_types`), its snapshot
    as the transaction leaves it. Synchronous: delivery.set_status, the one place a
    status changes, calls it."""
    for type_ in campaign_event_types(was, CampaignStatus(campaign.status)):
        entry = _Pending(campaign.business_center_id, type_, "Campaign", campaign, None, now)
        _pending(session).append(entry)


async def record_spend(session: AsyncSession, totals: Iterable[SpendTotals], now: datetime) -> None:
    """One `spend.applied` per campaign of a recordSpend batch, with its totals."""
    for each in totals:
        row = each.campaign
        data = snapshots.spend(each)
        await record(
            session, row.business_center_id, EventType.SPEND_APPLIED, "Campaign", row.id, data, now
        )


async def sequence(session: AsyncSession, center_id: int) -> int:
    """`sequence_centers` for one center."""
    return await sequence_centers(session, [center_id])


async def sequence_centers(session: AsyncSession, center_ids: Sequence[int]) -> int:
    """Number every committed, unnumbered event of these centers (an `events.sequence`
    effect an older process left), under their counters' locks; answers how many."""
    numbered: int = await session.run_sync(repo.number_centers, center_ids, SEQUENCE_BATCH)
    return numbered


# -- the commit ------------------------------------------------------------------------


def _write_pending(session: Session) -> None:
    """Before the commit: the transaction's events, written and numbered."""
    pending: list[_Pending] = session.info.pop(_PENDING, None) or []
    if not pending:
        return
    session.flush()  # a campaign made in this transaction gets its id
    rows = [
        _row(entry, data) for entry, data in zip(pending, _snapshots(session, pending), strict=True)
    ]
    # Numbered here, the last locks the transaction takes (a spend batch may mix fifty
    # centers: two statements whatever their number).
    repo.insert_events_numbered(session, rows, SEQUENCE_BATCH)


def _snapshots(session: Session, pending: Sequence[_Pending]) -> list[Data]:
    """Each event's data: given, or its subject's snapshot now (one read per kind)."""
    current: dict[str, dict[int, Any]] = {}
    for name, (model, _) in _SUBJECTS.items():
        ids = sorted({p.subject for p in pending if p.data is None and p.subject_type == name})
        current[name] = repo.current_rows(session, model, ids)
    found: list[Data] = []
    for entry in pending:
        if entry.data is not None:
            found.append(entry.data)
        elif entry.subject_type == "Campaign":
            found.append(snapshots.campaign(entry.subject))
        else:
            found.append(
                _SUBJECTS[entry.subject_type][1](current[entry.subject_type][entry.subject])
            )
    return found


def _row(entry: _Pending, data: Data) -> dict[str, Any]:
    subject_id = entry.subject if isinstance(entry.subject, int) else entry.subject.id
    object_id = data.get("id") if isinstance(data.get("id"), str) else None
    return {
        "business_center_id": entry.center_id,
        "type": entry.type.value,
        "api_version": API_VERSION,
        "subject_type": entry.subject_type,
        "subject_id": subject_id,
        "data": bounded(data, object_id or to_global_id(entry.subject_type, subject_id)),
        "created_at": entry.now,
    }


def _forget(session: Session, transaction: SessionTransaction) -> None:
    """The transaction ended without writing them (rolled back, or closed): what it
    recorded never happened. (Committed, they were written and taken already.)"""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


event.listen(Session, "before_commit", _write_pending)
event.listen(Session, "after_transaction_end", _forget)
