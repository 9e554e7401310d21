"""`verify-ledger`'s checks of closed months (issue 29): for every wallet bucket account,
the month's closing is its opening (the closing before) plus what its postings dated in
the month moved, and every account that moved has its closing. Each closed month is read
once by the incremental runs (then marked verified), and again by every full run."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.ledger import WALLET_BUCKETS
from adledger.domain.statements import month_text, span
from adledger.store import raw
from adledger.store.ledger import Violation

_BUCKETS = [kind.value for kind in WALLET_BUCKETS]


async def months_to_verify(session: AsyncSession, *, full: bool) -> list[date]:
    sql = "SELECT month FROM ledger_months"
    if not full:
        sql += " WHERE verified_at IS NULL"
    return [row[0] for row in await raw.fetch(session, sql + " ORDER BY month")]


async def month_violations(session: AsyncSession, month: date) -> list[Violation]:
    start, end = span(month)
    rows = await raw.fetch(session, _MONTH, month, start, end, _BUCKETS)
    return [_violation(month, row) for row in rows]


def _violation(month: date, row: raw.Row) -> Violation:
    account_id, moved, kept_moved, closing, opening = row
    if kept_moved is None:
        detail = f"account {account_id} moved {moved} in {month_text(month)} but has no closing"
    elif moved != kept_moved:
        detail = (
            f"account {account_id} in {month_text(month)}: its postings moved {moved or 0}, "
            f"its closing says {kept_moved}"
        )
    else:
        detail = (
            f"account {account_id} in {month_text(month)}: opening {opening} + moved "
            f"{kept_moved} != closing {closing}"
        )
    return Violation("closed month", detail)


_MONTH = (
    "WITH actual AS (SELECT p.account_id, SUM(p.amount)::bigint AS moved "
    "FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id "
    "WHERE p.created_at >= $2 AND p.created_at < $3 AND a.wallet_id IS NOT NULL "
    "AND a.kind = ANY($4::varchar[]) GROUP BY p.account_id), "
    "kept AS (SELECT account_id, moved, closing FROM ledger_account_months WHERE month = $1) "
    "SELECT COALESCE(actual.account_id, kept.account_id), actual.moved, kept.moved, "
    "kept.closing, COALESCE(before.closing, 0) FROM actual FULL JOIN kept USING (account_id) "
    "LEFT JOIN LATERAL (SELECT closing FROM ledger_account_months "
    "WHERE account_id = kept.account_id AND month < $1 ORDER BY month DESC LIMIT 1) before "
    "ON true "
    "WHERE actual.moved IS DISTINCT FROM kept.moved "
    "OR kept.closing <> COALESCE(before.closing, 0) + kept.moved"
)


async def mark_verified(session: AsyncSession, months: list[date], now: datetime) -> None:
    await raw.execute(
        session,
        "UPDATE ledger_months SET verified_at = $2 "
        "WHERE month = ANY($1::date[]) AND verified_at IS NULL",
        months,
        now,
    )
