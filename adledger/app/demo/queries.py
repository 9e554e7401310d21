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


async def active_campaign_named(
    session: AsyncSession, member_user_id: int, center_name: str, campaign_name: str
) -> int | None:
    """The newest ACTIVE campaign named so, in the member's business center named so."""
    stmt = (
        select(Campaign.id)
        .join(BusinessCenter, BusinessCenter.id == Campaign.business_center_id)
        .join(Membership, Membership.business_center_id == BusinessCenter.id)
        .where(
            Membership.user_id == member_user_id,
            BusinessCenter.name == center_name,
            Campaign.name == campaign_name,
            Campaign.status == "ACTIVE",
        )
        .order_by(Campaign.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)
