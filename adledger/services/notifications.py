"""A word to a business center from the platform (`BusinessCenter.notifications`): a
campaign likely to under-deliver, a makegood offered, a low-balance alert, an automatic
recharge paid or suspended, a webhook endpoint disabled. The one way to write one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.makegoods import insert_notification
from adledger.store.models import Notification


async def notify(
    session: AsyncSession,
    center_id: int,
    kind: str,
    message: str,
    now: datetime,
    *,
    campaign_id: int | None = None,
    by_user_id: int | None = None,
) -> None:
    """In the caller's transaction: told only if what it tells of commits."""
    notice = Notification(
        business_center_id=center_id,
        campaign_id=campaign_id,
        kind=kind,
        message=message,
        created_by_user_id=by_user_id,
        created_at=now,
    )
    await insert_notification(session, notice)
