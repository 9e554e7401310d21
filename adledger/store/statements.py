"""What statements and balances at an instant read (issue 29): the closings the
`close-ledger-months` job keeps (migration 0023), the postings since, and the credit
limits a wallet had. Every read is a few statements whatever the wallet's age: a closing
is found by its (account, month) key, and the postings summed are those of the months
not closed yet (one partition, as a rule)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.ledger import WALLET_BUCKETS, AccountKind
from adledger.store import raw


@dataclass(frozen=True, slots=True)
class Closings:
    accounts: dict[int, tuple[int, AccountKind]]
    """Each bucket account of the wallets → (its wallet, its kind)."""
    through: date | None
    """The last month whose closings were read (None: none closed before the instant)."""
    closed_through: date | None
    """The last month closed."""
    balances: dict[int, int]
    """Account id → its balance at the end of `through` (absent: it never moved)."""
    opened: dict[int, datetime]
    """Wallet id → when it was opened."""


async def closings_before(session: AsyncSession, wallet_ids: Sequence[int], cap: date) -> Closings:
    """The wallets' bucket accounts, and their balances at the end of the last closed
    month not after `cap`: one statement (an index lookup per account)."""
    rows = await raw.fetch(session, _CLOSINGS, list(wallet_ids), cap, _BUCKETS)
    accounts = {row["id"]: (row["wallet_id"], AccountKind(row["kind"])) for row in rows}
    balances = {row["id"]: row["closing"] for row in rows if row["closing"] is not None}
    opened = {row["wallet_id"]: row["opened"] for row in rows}
    if rows:
        return Closings(accounts, rows[0]["through"], rows[0]["closed"], balances, opened)
    closed_through = await raw.fetchval(session, "SELECT max(month) FROM ledger_months")
    return Closings({}, None, closed_through, {}, {})


_BUCKETS = [kind.value for kind in WALLET_BUCKETS]
_CLOSINGS = (
    # LEAST ignores a NULL: with no month closed, none may be read.
    "WITH u AS (SELECT max(month) AS closed, "
    "CASE WHEN max(month) IS NOT NULL THEN LEAST(max(month), $2::date) END AS m "
    "FROM ledger_months) "
    "SELECT a.id, a.wallet_id, a.kind, u.m AS through, u.closed, c.closing, "
    "w.created_at AS opened FROM ledger_accounts a JOIN wallets w ON w.id = a.wallet_id "
    "CROSS JOIN u "
    "LEFT JOIN LATERAL (SELECT closing FROM ledger_account_months "
    "WHERE account_id = a.id AND month <= u.m ORDER BY month DESC LIMIT 1) c ON true "
    "WHERE a.wallet_id = ANY($1::bigint[]) AND a.kind = ANY($3::varchar[])"
)


async def moved_between(
    session: AsyncSession, account_ids: Sequence[int], since: datetime | None, before: datetime
) -> dict[int, int]:
    """What the accounts' postings dated in [since, before) moved, per account."""
    rows = await raw.fetch(session, _MOVED, list(account_ids), since, before)
    return {row[0]: int(row[1]) for row in rows}


_MOVED = (
    "SELECT account_id, SUM(amount) FROM ledger_postings "
    "WHERE account_id = ANY($1::bigint[]) "
    "AND created_at >= COALESCE($2::timestamptz, '-infinity') AND created_at < $3 "
    "GROUP BY account_id"
)


async def credit_limits_at(
    session: AsyncSession, wallet_ids: Sequence[int], at: datetime
) -> dict[int, int]:
    """Each wallet's credit limit at `at` (the last one set at or before it; 0 if none)."""
    rows = await raw.fetch(session, _LIMITS, list(wallet_ids), at)
    return {row[0]: row[1] for row in rows}


_LIMITS = (
    "SELECT w.id, COALESCE(l.credit_limit, 0) FROM unnest($1::bigint[]) AS w(id) "
    "LEFT JOIN LATERAL (SELECT credit_limit FROM wallet_credit_limits "
    "WHERE wallet_id = w.id AND set_at <= $2 ORDER BY set_at DESC, id DESC LIMIT 1) l ON true"
)


@dataclass(frozen=True, slots=True)
class LineRow:
    id: int
    created_at: datetime
    bucket: str
    kind: str
    amount: int
    balance_after: int
    description: str


async def lines(
    session: AsyncSession,
    wallet_ids: Sequence[int],
    span: tuple[datetime, datetime],
    after_id: int | None,
    limit: int,
) -> dict[int, list[LineRow]]:
    """Each wallet's bucket postings dated in the span, in the order the ledger wrote them
    (by id), after `after_id`, at most `limit`: each account's next ones by its index,
    merged per wallet, in one statement for all the wallets."""
    rows = await raw.fetch(
        session, _LINES, list(wallet_ids), span[0], span[1], after_id or 0, limit, _BUCKETS
    )
    found: dict[int, list[LineRow]] = {wallet_id: [] for wallet_id in wallet_ids}
    for row in rows:
        found[row[0]].append(LineRow(*row[1:]))
    return found


_LINES = (
    "SELECT w.id, l.id, l.created_at, l.bucket, l.kind, l.amount, l.balance_after, "
    "e.description FROM unnest($1::bigint[]) AS w(id) "
    "CROSS JOIN LATERAL (SELECT p.*, a.kind AS bucket FROM ledger_accounts a "
    "CROSS JOIN LATERAL (SELECT id, created_at, kind, amount, balance_after, entry_id "
    "FROM ledger_postings WHERE account_id = a.id AND created_at >= $2 AND created_at < $3 "
    "AND id > $4 ORDER BY id LIMIT $5) p "
    "WHERE a.wallet_id = w.id AND a.kind = ANY($6::varchar[]) ORDER BY p.id LIMIT $5) l "
    "JOIN ledger_entries e ON e.id = l.entry_id ORDER BY w.id, l.id"
)


async def totals(
    session: AsyncSession, account_ids: Sequence[int], span: tuple[datetime, datetime]
) -> list[tuple[int, str, int, int]]:
    """(account, transaction kind, amount, count) of the accounts' postings in the span."""
    rows = await raw.fetch(session, _TOTALS, list(account_ids), span[0], span[1])
    return [(row[0], row[1], int(row[2]), row[3]) for row in rows]


_TOTALS = (
    "SELECT account_id, kind, SUM(amount), COUNT(*) FROM ledger_postings "
    "WHERE account_id = ANY($1::bigint[]) AND created_at >= $2 AND created_at < $3 "
    "GROUP BY account_id, kind"
)


@dataclass(frozen=True, slots=True)
class CenterWallet:
    id: int
    own: bool
    """The center's own wallet (else an ad account's)."""
    opened_at: datetime


async def center_wallets(session: AsyncSession, center_id: int) -> list[CenterWallet]:
    rows = await raw.fetch(session, _CENTER_WALLETS, center_id)
    return [CenterWallet(row[0], row[1], row[2]) for row in rows]


_CENTER_WALLETS = (
    "SELECT id, ad_account_id IS NULL, created_at FROM wallets "
    "WHERE business_center_id = $1 ORDER BY id"
)
