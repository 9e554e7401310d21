from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.locks import Level, register
from adledger.store.models import AdAccount, BusinessCenter, Membership, User
from adledger.store.pagination import pages_by_parent


async def insert_business_center(session: AsyncSession, name: str, currency: str) -> BusinessCenter:
    center = BusinessCenter(name=name, currency=currency, allocation_mode="MANUAL")
    session.add(center)
    await session.flush()
    return center


async def business_centers_by_ids(
    session: AsyncSession, ids: Sequence[int]
) -> list[BusinessCenter]:
    stmt = select(BusinessCenter).where(BusinessCenter.id.in_(ids))
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def business_center(session: AsyncSession, center_id: int) -> BusinessCenter | None:
    centers = await business_centers_by_ids(session, [center_id])
    return centers[0] if centers else None


async def share_lock_business_center(
    session: AsyncSession, center_id: int
) -> BusinessCenter | None:
    """Read the center and keep its settings (allocation mode) from changing until commit."""
    register(session, Level.BUSINESS_CENTERS, [center_id])
    stmt = select(BusinessCenter).where(BusinessCenter.id == center_id).with_for_update(read=True)
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def set_credit_line_terms(
    session: AsyncSession, center_id: int, cycle: str, net_terms_days: int, anchor: datetime
) -> None:
    """`anchor`: where 28-day cycles are counted from, kept from the first grant on."""
    stmt = update(BusinessCenter).where(BusinessCenter.id == center_id)
    await session.execute(
        stmt.values(
            credit_line_cycle=cycle,
            credit_line_net_terms_days=net_terms_days,
            credit_line_cycle_anchor=func.coalesce(BusinessCenter.credit_line_cycle_anchor, anchor),
        )
    )


async def insert_membership(session: AsyncSession, center_id: int, user_id: int, role: str) -> None:
    session.add(Membership(business_center_id=center_id, user_id=user_id, role=role))
    await session.flush()


async def roles_of_user(
    session: AsyncSession, user_id: int, center_ids: Sequence[int]
) -> dict[int, str]:
    stmt = select(Membership.business_center_id, Membership.role).where(
        Membership.user_id == user_id, Membership.business_center_id.in_(center_ids)
    )
    return {center_id: role for center_id, role in (await session.execute(stmt)).all()}


async def members_by_center(
    session: AsyncSession, center_ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    stmt = (
        select(Membership.business_center_id, User.email, Membership.role)
        .join(User, User.id == Membership.user_id)
        .where(Membership.business_center_id.in_(center_ids))
        .order_by(Membership.id)
    )
    members: dict[int, list[tuple[str, str]]] = {center_id: [] for center_id in center_ids}
    for center_id, email, role in (await session.execute(stmt)).all():
        members[center_id].append((email, role))
    return members


async def page_business_centers(
    session: AsyncSession, user_id: int | None, *, limit: int, after_id: int | None
) -> list[BusinessCenter]:
    """The user's business centers, or every one when user_id is None (platform staff)."""
    stmt = select(BusinessCenter).order_by(BusinessCenter.id).limit(limit)
    if user_id is not None:
        member_of = select(Membership.business_center_id).where(Membership.user_id == user_id)
        stmt = stmt.where(BusinessCenter.id.in_(member_of))
    if after_id is not None:
        stmt = stmt.where(BusinessCenter.id > after_id)
    return list(await session.scalars(stmt))


async def insert_ad_account(
    session: AsyncSession, center: BusinessCenter, name: str, billing_option: str, account_type: str
) -> AdAccount:
    account = AdAccount(
        business_center_id=center.id,
        currency=center.currency,
        name=name,
        billing_option=billing_option,
        account_type=account_type,
    )
    session.add(account)
    await session.flush()
    return account


async def ad_accounts_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[AdAccount]:
    stmt = select(AdAccount).where(AdAccount.id.in_(ids))
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def ad_account_pages(
    session: AsyncSession, center_ids: Sequence[int], *, limit: int, after_id: int | None
) -> dict[int, list[AdAccount]]:
    return await pages_by_parent(
        session,
        AdAccount,
        AdAccount.business_center_id,
        center_ids,
        limit=limit,
        after_id=after_id,
    )


async def set_payment_customer(session: AsyncSession, center_id: int, reference: str) -> None:
    stmt = update(BusinessCenter).where(BusinessCenter.id == center_id)
    await session.execute(stmt.values(payment_customer_reference=reference))


async def lock_business_center(session: AsyncSession, center_id: int) -> BusinessCenter | None:
    register(session, Level.BUSINESS_CENTERS, [center_id])
    stmt = (
        select(BusinessCenter).where(BusinessCenter.id == center_id).with_for_update(key_share=True)
    )
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def lock_business_centers(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, BusinessCenter]:
    """Centers locked in ascending id order (store/locks.py has the one lock order)."""
    register(session, Level.BUSINESS_CENTERS, ids)
    stmt = (
        select(BusinessCenter)
        .where(BusinessCenter.id.in_(sorted(set(ids))))
        .order_by(BusinessCenter.id)
        .with_for_update(key_share=True)
    )
    rows = await session.scalars(stmt.execution_options(populate_existing=True))
    return {row.id: row for row in rows}


async def set_allocation_mode(
    session: AsyncSession, center_id: int, mode: str, changed_at: datetime
) -> None:
    stmt = update(BusinessCenter).where(BusinessCenter.id == center_id)
    await session.execute(stmt.values(allocation_mode=mode, allocation_mode_changed_at=changed_at))
