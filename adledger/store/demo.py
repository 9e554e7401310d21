"""Lookups only the demo needs: its objects by name."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.models import AdAccount, BusinessCenter, Campaign, Invoice, Membership


async def member_center_named(
    session: AsyncSession, user_id: int, name: str
) -> BusinessCenter | None:
    stmt = (
        select(BusinessCenter)
        .join(Membership, Membership.business_center_id == BusinessCenter.id)
        .where(Membership.user_id == user_id, BusinessCenter.name == name)
    )
    return await session.scalar(stmt)


async def ad_account_named(session: AsyncSession, center_id: int, name: str) -> AdAccount | None:
    stmt = select(AdAccount).where(
        AdAccount.business_center_id == center_id, AdAccount.name == name
    )
    return await session.scalar(stmt)


async def campaign_named(session: AsyncSession, center_id: int, name: str) -> Campaign | None:
    stmt = (
        select(Campaign)
        .where(Campaign.business_center_id == center_id, Campaign.name == name)
        .order_by(Campaign.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def next_scheduled(session: AsyncSession, campaign_id: int) -> Invoice | None:
    stmt = (
        select(Invoice)
        .where(Invoice.campaign_id == campaign_id, Invoice.status == "SCHEDULED")
        .order_by(Invoice.issue_on)
        .limit(1)
    )
    return await session.scalar(stmt)
