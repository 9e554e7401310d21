"""Balance guard's reads and writes (issue 27)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store import raw

# The wallets of these accounts that have an alert or an active recharge rule: one
# statement before every commit that moved money, and most wallets have neither.
_GUARDED = (
    "SELECT DISTINCT la.wallet_id FROM ledger_accounts la "
    "WHERE la.id = ANY($1::bigint[]) AND la.wallet_id IS NOT NULL AND ("
    "EXISTS (SELECT 1 FROM balance_alerts a WHERE a.wallet_id = la.wallet_id) OR "
    "EXISTS (SELECT 1 FROM auto_recharge_rules r "
    "WHERE r.wallet_id = la.wallet_id AND r.status = 'ACTIVE')) "
    "ORDER BY la.wallet_id"
)


async def guarded_wallets(session: AsyncSession, account_ids: Sequence[int]) -> list[int]:
    return [row[0] for row in await raw.fetch(session, _GUARDED, list(account_ids))]
