"""Low-balance alerts' reads and writes (issue 27)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.balance_alerts import AlertSetting
from adledger.store.guard_models import BalanceAlert
from adledger.store.locks import Level, register


async def lock_alerts(session: AsyncSession, wallet_ids: Sequence[int]) -> list[BalanceAlert]:
    """The wallets' alerts, locked (their balance guard), by wallet and position."""
    register(session, Level.BALANCE_GUARD)
    stmt = (
        select(BalanceAlert)
        .where(BalanceAlert.wallet_id.in_(sorted(set(wallet_ids))))
        .order_by(BalanceAlert.wallet_id, BalanceAlert.position)
        .with_for_update(key_share=True)
    )
    return list(await session.scalars(stmt))


async def alerts_by_wallet(
    session: AsyncSession, wallet_ids: Sequence[int]
) -> dict[int, list[BalanceAlert]]:
    stmt = (
        select(BalanceAlert)
        .where(BalanceAlert.wallet_id.in_(list(wallet_ids)))
        .order_by(BalanceAlert.wallet_id, BalanceAlert.position)
    )
    found: dict[int, list[BalanceAlert]] = defaultdict(list)
    for alert in await session.scalars(stmt):
        found[alert.wallet_id].append(alert)
    return found


async def replace_alerts(
    session: AsyncSession,
    wallet_id: int,
    settings: Sequence[AlertSetting],
    kept: Sequence[BalanceAlert | None],
    now: datetime,
) -> None:
    """The wallet's alerts become `settings`; `kept[i]`: an alert of the same setting
    whose state (armed, last triggered) the new one keeps."""
    await session.execute(delete(BalanceAlert).where(BalanceAlert.wallet_id == wallet_id))
    for position, (setting, old) in enumerate(zip(settings, kept, strict=True)):
        session.add(
            BalanceAlert(
                wallet_id=wallet_id,
                position=position,
                kind=setting.kind.value,
                threshold=setting.threshold,
                days=setting.days,
                armed=True if old is None else old.armed,
                last_triggered_at=None if old is None else old.last_triggered_at,
                created_at=now if old is None else old.created_at,
            )
        )
    await session.flush()
