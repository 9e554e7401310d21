"""Business center invitations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.locks import Level, register
from adledger.store.models import BusinessCenter, BusinessCenterInvitation

PENDING = "PENDING"


async def upsert_pending(
    session: AsyncSession,
    center_id: int,
    email: str,
    role: str,
    invited_by: int,
    expires_at: datetime,
) -> BusinessCenterInvitation:
    """One pending invitation per center and email: inviting again renews it."""
    stmt = (
        pg_insert(BusinessCenterInvitation)
        .values(
            business_center_id=center_id,
            email=email,
            role=role,
            status=PENDING,
            invited_by_user_id=invited_by,
            expires_at=expires_at,
        )
        .on_conflict_do_update(
            index_elements=["business_center_id", "email"],
            index_where=text("status = 'PENDING'"),
            set_={"role": role, "invited_by_user_id": invited_by, "expires_at": expires_at},
        )
        .returning(BusinessCenterInvitation)
    )
    row = (await session.scalars(stmt.execution_options(populate_existing=True))).one()
    return row


async def lock_pending(
    session: AsyncSession, invitation_id: int, now: datetime
) -> BusinessCenterInvitation | None:
    register(session, Level.SUBJECT)
    stmt = (
        select(BusinessCenterInvitation)
        .where(
            BusinessCenterInvitation.id == invitation_id,
            BusinessCenterInvitation.status == PENDING,
            BusinessCenterInvitation.expires_at > now,
        )
        .with_for_update(key_share=True)
    )
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def answer(session: AsyncSession, invitation_id: int, status: str, now: datetime) -> None:
    await session.execute(
        update(BusinessCenterInvitation)
        .where(BusinessCenterInvitation.id == invitation_id)
        .values(status=status, answered_at=now)
    )


async def pending_for_email(
    session: AsyncSession, email: str, now: datetime, limit: int = 100
) -> list[tuple[BusinessCenterInvitation, str]]:
    """The invitee's open invitations, with the inviting center's name."""
    stmt = (
        select(BusinessCenterInvitation, BusinessCenter.name)
        .join(BusinessCenter, BusinessCenter.id == BusinessCenterInvitation.business_center_id)
        .where(
            BusinessCenterInvitation.email == email,
            BusinessCenterInvitation.status == PENDING,
            BusinessCenterInvitation.expires_at > now,
        )
        .order_by(BusinessCenterInvitation.id)
        .limit(limit)
    )
    return [(row, name) for row, name in (await session.execute(stmt)).all()]


async def pending_for_centers(
    session: AsyncSession, center_ids: Sequence[int], now: datetime
) -> dict[int, list[tuple[BusinessCenterInvitation, str]]]:
    stmt = (
        select(BusinessCenterInvitation, BusinessCenter.name)
        .join(BusinessCenter, BusinessCenter.id == BusinessCenterInvitation.business_center_id)
        .where(
            BusinessCenterInvitation.business_center_id.in_(center_ids),
            BusinessCenterInvitation.status == PENDING,
            BusinessCenterInvitation.expires_at > now,
        )
        .order_by(BusinessCenterInvitation.id)
    )
    grouped: dict[int, list[tuple[BusinessCenterInvitation, str]]] = {i: [] for i in center_ids}
    for row, name in (await session.execute(stmt)).all():
        grouped[row.business_center_id].append((row, name))
    return grouped


async def invitation(session: AsyncSession, invitation_id: int) -> BusinessCenterInvitation | None:
    return await session.get(BusinessCenterInvitation, invitation_id, populate_existing=True)
