"""Automatic recharge rules' reads and writes (issue 27).

A wallet's balance guard is its alerts and its recharge rule, one lock level
(`Level.BALANCE_GUARD`), taken in one order within it: the alerts, then the rule, each by
wallet id. `balance_guard.settle` asks the alerts first and the rule after; a writer that
comes to a rule by another way (a recharge opened by its effect, paid or declined, a member
setting it) takes the wallet's alerts first too (`lock_guard`), so two writers never hold
one each. The level comes after the invoice counter: a writer that numbers an invoice
does so before it locks a guard (the recharge's effect), never after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store.guard_models import AutoRechargeRule, BalanceAlert
from adledger.store.locks import Level, register


async def lock_rules(
    session: AsyncSession, wallet_ids: Sequence[int]
) -> dict[int, AutoRechargeRule]:
    """The rules of these wallets, locked by wallet id (their alerts are the alerts'
    to lock, before: `balance_guard.settle`)."""
    register(session, Level.BALANCE_GUARD)
    stmt = (
        select(AutoRechargeRule)
        .where(AutoRechargeRule.wallet_id.in_(sorted(set(wallet_ids))))
        .order_by(AutoRechargeRule.wallet_id)
        .with_for_update(key_share=True)
    )
    rows = await session.scalars(stmt.execution_options(populate_existing=True))
    return {row.wallet_id: row for row in rows}


async def lock_guard(session: AsyncSession, wallet_id: int) -> AutoRechargeRule | None:
    """The wallet's balance guard locked, outside `settle`: its alerts, then its rule."""
    register(session, Level.BALANCE_GUARD)
    alerts = (
        select(BalanceAlert.id)
        .where(BalanceAlert.wallet_id == wallet_id)
        .order_by(BalanceAlert.position)
        .with_for_update(key_share=True)
    )
    await session.execute(alerts)
    return (await lock_rules(session, [wallet_id])).get(wallet_id)


async def rule_of(session: AsyncSession, wallet_id: int) -> AutoRechargeRule | None:
    """The wallet's rule as committed, not locked (read again, not from the session)."""
    stmt = select(AutoRechargeRule).where(AutoRechargeRule.wallet_id == wallet_id)
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def rules_by_wallet(
    session: AsyncSession, wallet_ids: Sequence[int]
) -> list[AutoRechargeRule]:
    stmt = select(AutoRechargeRule).where(AutoRechargeRule.wallet_id.in_(wallet_ids))
    return list(await session.scalars(stmt))


async def save_rule(session: AsyncSession, wallet_id: int, now: datetime, **values: Any) -> None:
    """The wallet's rule, made or replaced with these values (the guard locked first:
    `lock_guard`; a rule made by a concurrent writer meanwhile is replaced)."""
    stmt = insert(AutoRechargeRule).values(
        wallet_id=wallet_id, created_at=now, updated_at=now, **values
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[AutoRechargeRule.wallet_id], set_={"updated_at": now, **values}
    )
    await session.execute(stmt)
