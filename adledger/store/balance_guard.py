"""Balance guard's reads and writes (issue 27)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ARRAY, BigInteger, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

# The wallets of these accounts that have an alert or an active recharge rule: one
# statement, and most transactions' wallets have neither.
_GUARDED = text(
    "SELECT DISTINCT la.wallet_id FROM ledger_accounts la "
    "WHERE la.id = ANY(:ids) AND la.wallet_id IS NOT NULL AND ("
    "EXISTS (SELECT 1 FROM balance_alerts a WHERE a.wallet_id = la.wallet_id) OR "
    "EXISTS (SELECT 1 FROM auto_recharge_rules r "
    "WHERE r.wallet_id = la.wallet_id AND r.status = 'ACTIVE')) "
    "ORDER BY la.wallet_id"
).bindparams(bindparam("ids", type_=ARRAY(BigInteger())))


async def guarded_wallets(session: AsyncSession, account_ids: Sequence[int]) -> list[int]:
    return list(await session.scalars(_GUARDED, {"ids": list(account_ids)}))
