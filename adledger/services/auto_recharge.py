"""Automatic recharge (issue 27, item 3). SCAFFOLD: filled in by the recharge work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


async def on_balances_changed(
    session: AsyncSession, wallet_ids: Sequence[int], now: datetime
) -> None:
    """Start one recharge for each wallet whose available balance fell below its active,
    armed rule's threshold, none in flight, within its monthly cap."""
    return None
