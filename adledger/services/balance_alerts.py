"""Low-balance alerts (issue 27, item 2). SCAFFOLD: filled in by the balance-alerts work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


async def on_balances_changed(
    session: AsyncSession, wallet_ids: Sequence[int], now: datetime
) -> None:
    """Fire the armed alerts the wallets' balances (or runways) fell below; re-arm those
    they climbed back above (with the margin)."""
    return None
