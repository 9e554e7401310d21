"""Ad account budget caps: the account rows spend locks, the history of cap changes, and
the spend counted over a window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.locks import Level, register
from adledger.store.models import AdAccount, AdAccountBudgetChange, Campaign
from adledger.store.pagination import pages_by_parent


async def lock_ad_accounts(session: AsyncSession, ids: Sequence[int]) -> dict[int, AdAccount]:
    """Ad accounts locked in ascending id order: after the business center and the
    campaigns (store/locks.py has the one lock order)."""
    register(session, Level.AD_ACCOUNTS, ids)
    stmt = (
        select(AdAccount)
        .where(AdAccount.id.in_(sorted(set(ids))))
        .order_by(AdAccount.id)
        .with_for_update(key_share=True)
    )
    rows = await session.scalars(stmt.execution_options(populate_existing=True))
    return {row.id: row for row in rows}


async def lock_accounts_of_center(session: AsyncSession, center_id: int) -> list[AdAccount]:
    """Every ad account of the center, locked in ascending id order (the center's lock is
    held, so none is added meanwhile: creating one takes it too)."""
    stmt = (
        select(AdAccount)
        .where(AdAccount.business_center_id == center_id)
        .order_by(AdAccount.id)
        .with_for_update(key_share=True)
    )
    accounts = list(await session.scalars(stmt.execution_options(populate_existing=True)))
    register(session, Level.AD_ACCOUNTS, [account.id for account in accounts])
    return accounts


async def save(session: AsyncSession, row: AdAccount | AdAccountBudgetChange) -> None:
    session.add(row)
    await session.flush()


async def user_changes_since(
    session: AsyncSession, account_ids: Sequence[int], since: datetime
) -> dict[int, int]:
    """Changes made by people (Budget Sync is not counted) since `since`, per account."""
    stmt = (
        select(AdAccountBudgetChange.ad_account_id, func.count())
        .where(
            AdAccountBudgetChange.ad_account_id.in_(account_ids),
            AdAccountBudgetChange.source == "USER",
            AdAccountBudgetChange.changed_at >= since,
        )
        .group_by(AdAccountBudgetChange.ad_account_id)
    )
    return {account_id: count for account_id, count in (await session.execute(stmt)).all()}


async def change_pages(
    session: AsyncSession, account_ids: Sequence[int], *, limit: int, after_id: int | None
) -> dict[int, list[AdAccountBudgetChange]]:
    return await pages_by_parent(
        session,
        AdAccountBudgetChange,
        AdAccountBudgetChange.ad_account_id,
        account_ids,
        limit=limit,
        after_id=after_id,
        descending=True,
    )


async def spent_between(
    session: AsyncSession, account_id: int, start: datetime, end: datetime
) -> int:
    """Spend applied to the account's campaigns and recorded in [start, end)."""
    total = await session.scalar(_SPENT_BETWEEN, {"a": account_id, "s": start, "e": end})
    return int(total or 0)


_SPENT_BETWEEN = text(
    "SELECT COALESCE(SUM(e.amount - e.refused), 0) FROM spend_events e "
    "WHERE e.campaign_id IN (SELECT id FROM campaigns WHERE ad_account_id = :a) "
    "AND e.recorded_at >= :s AND e.recorded_at < :e"
)


async def due_to_roll(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Accounts whose repeating period has ended, whose campaigns wait on their cap, or
    whose CUSTOM dates are over while campaigns still deliver (they stop then)."""
    ended = and_(AdAccount.budget_mode != "CUSTOM", AdAccount.budget_period_end <= now)
    waiting = AdAccount.id.in_(
        select(Campaign.ad_account_id).where(
            Campaign.status == "BUDGET_EXHAUSTED",
            Campaign.stop_reason == "ACCOUNT_BUDGET_REACHED",
        )
    )
    over = and_(
        AdAccount.budget_mode == "CUSTOM",
        AdAccount.budget_period_end <= now,
        AdAccount.id.in_(select(Campaign.ad_account_id).where(Campaign.status == "ACTIVE")),
    )
    stmt = select(AdAccount.id).where(or_(ended, waiting, over)).order_by(AdAccount.id)
    stmt = stmt.limit(limit)
    return list(await session.scalars(stmt))
