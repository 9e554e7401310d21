"""The statements of CSV exports: who may read what, and the rows, read through a
server-side cursor so that a file of any length streams in constant memory.

Everything an export reads runs in one REPEATABLE READ READ ONLY transaction
(`begin_snapshot`, its first statement): the access check and every row see one snapshot,
so a file is consistent however long it takes to download.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from adledger.domain.exports import InvoiceLine, TransactionLine
from adledger.domain.ledger import WALLET_BUCKETS
from adledger.store import raw

Session = AsyncSession | AsyncConnection
# Rows fetched per round trip of the cursor: what the process holds at once.
PREFETCH = 2000


async def begin_snapshot(session: Session) -> None:
    """The transaction's first statement (raw.execute begins it): one snapshot, no writes."""
    await raw.execute(session, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


async def wallet_seen_by(session: Session, user_id: int, wallet_id: int) -> Any | None:
    """The wallet (id, business_center_id) with `role`, the user's in its center (None:
    not a member), or None when no wallet has this id."""
    return await raw.fetchrow(session, _WALLET, wallet_id, user_id)


_WALLET = (
    "SELECT w.id, w.business_center_id, m.role FROM wallets w "
    "LEFT JOIN memberships m ON m.business_center_id = w.business_center_id "
    "AND m.user_id = $2 WHERE w.id = $1"
)


async def center_seen_by(session: Session, user_id: int, center_id: int) -> Any | None:
    """The business center (id) with the user's `role` in it, or None when none has this id."""
    return await raw.fetchrow(session, _CENTER, center_id, user_id)


_CENTER = (
    "SELECT c.id, m.role FROM business_centers c "
    "LEFT JOIN memberships m ON m.business_center_id = c.id AND m.user_id = $2 WHERE c.id = $1"
)


async def user(session: Session, user_id: int) -> tuple[int, str, bool, bool] | None:
    """(id, email, is_staff, is_integration), or None when the user is gone."""
    row = await raw.fetchrow(session, _USER, user_id)
    return None if row is None else (row[0], row[1], row[2], row[3])


_USER = "SELECT id, email, is_staff, is_integration FROM users WHERE id = $1"


async def bucket_accounts(
    session: Session, *, wallet_id: int | None = None, center_id: int | None = None
) -> list[int]:
    """The ledger accounts of one wallet's buckets, or of every wallet of a center (its
    own and its ad accounts')."""
    kinds = [kind.value for kind in WALLET_BUCKETS]
    rows = await raw.fetch(session, _BUCKET_ACCOUNTS, wallet_id, center_id, kinds)
    return [row["id"] for row in rows]


_BUCKET_ACCOUNTS = (
    "SELECT a.id FROM ledger_accounts a JOIN wallets w ON w.id = a.wallet_id "
    "WHERE (w.id = $1::bigint OR w.business_center_id = $2::bigint) "
    "AND a.kind = ANY($3::varchar[]) ORDER BY a.id"
)


async def transaction_lines(
    session: Session, account_ids: list[int], start: datetime, end: datetime
) -> AsyncIterator[TransactionLine]:
    """Postings on these bucket accounts in [start, end), by time then posting id."""
    async for row in _cursor(session, _TRANSACTIONS, account_ids, start, end):
        yield TransactionLine(*row)


# Each row as WalletTransaction shows it (store/wallets.py `_transactions`). The month
# partitions outside [start, end) are pruned; the rows are sorted by the server.
_TRANSACTIONS = (
    "SELECT p.id, p.created_at, a.wallet_id, a.kind, p.kind, e.description, e.campaign_id, "
    "e.invoice_id, p.amount, a.currency, p.balance_after "
    "FROM ledger_postings p "
    "JOIN ledger_accounts a ON a.id = p.account_id "
    "JOIN ledger_entries e ON e.id = p.entry_id "
    "WHERE p.account_id = ANY($1::bigint[]) "
    "AND p.created_at >= $2::timestamptz AND p.created_at < $3::timestamptz "
    "ORDER BY p.created_at, p.id"
)


async def invoice_lines(
    session: Session, center_id: int, start: datetime, end: datetime
) -> AsyncIterator[InvoiceLine]:
    """The center's invoices created in [start, end), by creation time then id."""
    async for row in _cursor(session, _INVOICES, center_id, start, end):
        yield InvoiceLine(*row)


_INVOICES = (
    "SELECT i.id, i.number, i.kind, i.status, i.created_at, i.issue_on, i.due_at, i.paid_at, "
    "i.currency, i.subtotal, i.discount, i.wallet_id, i.campaign_id, c.name, "
    "i.installment_number, i.installment_count, i.payment_reference "
    "FROM invoices i LEFT JOIN campaigns c ON c.id = i.campaign_id "
    "WHERE i.business_center_id = $1 "
    "AND i.created_at >= $2::timestamptz AND i.created_at < $3::timestamptz "
    "ORDER BY i.created_at, i.id"
)


async def _cursor(session: Session, sql: str, *args: Any) -> AsyncIterator[Any]:
    """Rows PREFETCH at a time from a server-side cursor (asyncpg's cursors live in the
    transaction the session already began)."""
    connection = await raw.driver(session)
    async for row in connection.cursor(sql, *args, prefetch=PREFETCH):
        yield row
