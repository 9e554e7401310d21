"""Notifications to business centers and makegood offers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.locks import Level, register
from adledger.store.models import MakegoodOffer, Notification
from adledger.store.pagination import pages_by_parent


async def insert_notification(session: AsyncSession, notification: Notification) -> None:
    session.add(notification)
    await session.flush()


async def notification_pages(
    session: AsyncSession, center_ids: Sequence[int], *, limit: int, after_id: int | None
) -> dict[int, list[Notification]]:
    """Newest first, per center."""
    return await pages_by_parent(
        session,
        Notification,
        Notification.business_center_id,
        center_ids,
        limit=limit,
        after_id=after_id,
        descending=True,
    )


async def notifications_of_campaigns(
    session: AsyncSession, campaign_ids: Sequence[int]
) -> dict[int, list[Notification]]:
    stmt = (
        select(Notification)
        .where(Notification.campaign_id.in_(campaign_ids))
        .order_by(Notification.id.desc())
    )
    found: dict[int, list[Notification]] = defaultdict(list)
    for row in await session.scalars(stmt):
        if row.campaign_id is not None:
            found[row.campaign_id].append(row)
    return found


async def insert_offer(session: AsyncSession, offer: MakegoodOffer) -> MakegoodOffer:
    session.add(offer)
    await session.flush()
    return offer


async def open_offer_id(session: AsyncSession, campaign_id: int) -> int | None:
    stmt = select(MakegoodOffer.id).where(
        MakegoodOffer.campaign_id == campaign_id, MakegoodOffer.status == "OFFERED"
    )
    return await session.scalar(stmt)


async def offer(session: AsyncSession, offer_id: int) -> MakegoodOffer | None:
    stmt = select(MakegoodOffer).where(MakegoodOffer.id == offer_id)
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def lock_offer(session: AsyncSession, offer_id: int) -> MakegoodOffer | None:
    register(session, Level.CAMPAIGN_ROWS)
    stmt = select(MakegoodOffer).where(MakegoodOffer.id == offer_id)
    stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def update_offer(session: AsyncSession, offer_id: int, **values: Any) -> None:
    await session.execute(
        update(MakegoodOffer).where(MakegoodOffer.id == offer_id).values(**values)
    )


async def offers_of_campaigns(
    session: AsyncSession, campaign_ids: Sequence[int]
) -> dict[int, list[MakegoodOffer]]:
    stmt = (
        select(MakegoodOffer)
        .where(MakegoodOffer.campaign_id.in_(campaign_ids))
        .order_by(MakegoodOffer.id)
    )
    found: dict[int, list[MakegoodOffer]] = defaultdict(list)
    for row in await session.scalars(stmt):
        found[row.campaign_id].append(row)
    return found


@dataclass(frozen=True, slots=True)
class BilledFrom:
    """A ledger account a campaign's spend was drawn from, or its billing reversed to."""

    account_id: int
    kind: str
    wallet_id: int | None
    billed: int
    """What the campaign's SPEND took from it."""
    reversed: int
    """What earlier makegoods gave back to it from revenue."""


async def billed_from(session: AsyncSession, campaign_id: int) -> list[BilledFrom]:
    """The accounts the campaign's spend came from and its earlier makegoods from revenue
    went back to (one campaign's entries, through their campaign index)."""
    rows = await session.execute(_BILLED_FROM, {"campaign": campaign_id})
    return [BilledFrom(*row) for row in rows.all()]


# A makegood from revenue before revision 0015 was the entry "makegood_credit".
_BILLED_FROM = text(
    "SELECT a.id, a.kind, a.wallet_id, "
    "COALESCE(-SUM(p.amount) FILTER (WHERE p.kind = 'SPEND' AND p.amount < 0), 0), "
    "COALESCE(SUM(p.amount) FILTER (WHERE p.kind = 'MAKEGOOD_CREDIT' AND p.amount > 0 "
    "AND e.operation IN ('makegood_from_revenue', 'makegood_credit')), 0) "
    "FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.id "
    "JOIN ledger_accounts a ON a.id = p.account_id "
    "WHERE e.campaign_id = :campaign AND a.kind NOT IN ('revenue', 'forfeited') "
    "AND ((p.kind = 'SPEND' AND p.amount < 0) OR (p.kind = 'MAKEGOOD_CREDIT' AND p.amount > 0)) "
    "GROUP BY a.id, a.kind, a.wallet_id ORDER BY a.id"
)


async def flight_accepted(session: AsyncSession, campaign_id: int) -> bool:
    stmt = select(MakegoodOffer.id).where(
        MakegoodOffer.campaign_id == campaign_id,
        MakegoodOffer.kind == "FLIGHT",
        MakegoodOffer.status == "ACCEPTED",
    )
    return (await session.scalar(stmt.limit(1))) is not None
