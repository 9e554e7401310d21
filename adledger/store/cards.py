"""Card setups and the card saved on a business center."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.cards import SavedCard
from adledger.store.models import BusinessCenter, CardSetup


async def insert_card_setup(
    session: AsyncSession, center_id: int, user_id: int | None
) -> CardSetup:
    setup = CardSetup(business_center_id=center_id, created_by_user_id=user_id)
    session.add(setup)
    await session.flush()
    return setup


async def setups_since(session: AsyncSession, center_id: int, since: datetime) -> int:
    stmt = select(func.count()).where(
        CardSetup.business_center_id == center_id, CardSetup.created_at >= since
    )
    return int((await session.scalars(stmt)).one())


async def card_setup(session: AsyncSession, setup_id: int) -> CardSetup | None:
    return await session.get(CardSetup, setup_id)


async def card_setup_by_reference(session: AsyncSession, reference: str) -> CardSetup | None:
    return await session.scalar(select(CardSetup).where(CardSetup.reference == reference))


async def set_card_setup_reference(session: AsyncSession, setup_id: int, reference: str) -> None:
    stmt = update(CardSetup).where(CardSetup.id == setup_id, CardSetup.reference.is_(None))
    await session.execute(stmt.values(reference=reference))


async def save_card(
    session: AsyncSession, center_id: int, card: SavedCard, attached_at: datetime
) -> None:
    await session.execute(
        update(BusinessCenter)
        .where(BusinessCenter.id == center_id)
        .values(
            card_reference=card.reference,
            card_brand=card.brand,
            card_last4=card.last4,
            card_exp_month=card.exp_month,
            card_exp_year=card.exp_year,
            card_attached_at=attached_at,
        )
    )
