"""A business center's audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.models import AuditEvent, Campaign
from adledger.store.pagination import pages_by_parent


@dataclass(frozen=True, slots=True)
class Audited:
    center_id: int
    actor_user_id: int | None
    action: str
    subject: str
    at: datetime
    amount: int | None = None
    currency: str | None = None
    detail: str | None = None


def of_campaign(
    campaign: Campaign,
    actor_user_id: int | None,
    action: str,
    at: datetime,
    amount: int | None = None,
    detail: str | None = None,
) -> Audited:
    """Something done about a campaign's money, in its center's trail."""
    subject = f"Campaign {campaign.name}"
    return Audited(
        campaign.business_center_id,
        actor_user_id,
        action,
        subject,
        at,
        amount,
        campaign.currency,
        detail,
    )


async def record(session: AsyncSession, event: Audited) -> None:
    session.add(
        AuditEvent(
            business_center_id=event.center_id,
            actor_user_id=event.actor_user_id,
            action=event.action,
            subject=event.subject,
            amount=event.amount,
            currency=event.currency,
            detail=event.detail,
            at=event.at,
        )
    )
    await session.flush()


async def event_pages(
    session: AsyncSession, center_ids: Sequence[int], *, limit: int, after_id: int | None
) -> dict[int, list[AuditEvent]]:
    """Newest first, per center."""
    return await pages_by_parent(
        session,
        AuditEvent,
        AuditEvent.business_center_id,
        center_ids,
        limit=limit,
        after_id=after_id,
        descending=True,
    )
