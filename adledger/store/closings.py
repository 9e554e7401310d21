"""Closing a month of the ledger (issue 29, migration 0023): its row in `ledger_months`,
and per wallet bucket account that moved in it, what it moved and its balance at its end."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.ledger import WALLET_BUCKETS
from adledger.store import raw

_BUCKETS = [kind.value for kind in WALLET_BUCKETS]


async def next_to_close(session: AsyncSession) -> date | None:
    """The month after the last one closed; before any, the month the first wallet was
    opened in (no bucket posting is older than its wallet); None without wallets."""
    found: date | None = await raw.fetchval(session, _NEXT)
    return found


_NEXT = (
    "SELECT COALESCE((SELECT (max(month) + interval '1 month')::date FROM ledger_months), "
    "(SELECT date_trunc('month', min(created_at) AT TIME ZONE 'UTC')::date FROM wallets))"
)


async def close(
    session: AsyncSession, month: date, span: tuple[datetime, datetime], now: datetime
) -> int | None:
    """Close `month` (its postings dated in `span`): the number of accounts that moved in
    it, or None when it was closed already (by a concurrent run: the month's row decides)."""
    claimed = await raw.fetchval(session, _CLAIM, month, now)
    if claimed is None:
        return None
    status = await raw.execute(session, _CLOSE, month, span[0], span[1], _BUCKETS)
    return int(status.rsplit(" ", 1)[1])


_CLAIM = (
    "INSERT INTO ledger_months (month, closed_at) VALUES ($1, $2) "
    "ON CONFLICT (month) DO NOTHING RETURNING month"
)
_CLOSE = (
    "INSERT INTO ledger_account_months (account_id, month, moved, closing) "
    "SELECT m.account_id, $1, m.moved, COALESCE(prev.closing, 0) + m.moved FROM ("
    "SELECT p.account_id, SUM(p.amount)::bigint AS moved FROM ledger_postings p "
    "JOIN ledger_accounts a ON a.id = p.account_id "
    "WHERE p.created_at >= $2 AND p.created_at < $3 AND a.wallet_id IS NOT NULL "
    "AND a.kind = ANY($4::varchar[]) GROUP BY p.account_id) m "
    "LEFT JOIN LATERAL (SELECT closing FROM ledger_account_months "
    "WHERE account_id = m.account_id AND month < $1 ORDER BY month DESC LIMIT 1) prev ON true"
)
