from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from adledger.domain.ledger import WALLET_BUCKETS, AccountKind
from adledger.domain.wallets import BALANCE_KINDS
from adledger.store import raw
from adledger.store.locks import Level, register
from adledger.store.models import (
    AdAccount,
    BusinessCenter,
    LedgerAccount,
    LedgerEntry,
    LedgerPosting,
    User,
    Wallet,
)


async def insert_wallet(
    session: AsyncSession, center_id: int, ad_account_id: int | None, currency: str
) -> Wallet:
    """A wallet with its three bucket accounts, created together so a wallet is never partial."""
    wallet = Wallet(
        business_center_id=center_id, ad_account_id=ad_account_id, currency=currency, credit_limit=0
    )
    session.add(wallet)
    await session.flush()
    session.add_all(
        LedgerAccount(
            key=f"wallet:{wallet.id}:{kind.value}",
            kind=kind.value,
            currency=currency,
            wallet_id=wallet.id,
            balance=0,
        )
        for kind in WALLET_BUCKETS
    )
    await session.flush()
    return wallet


async def wallets_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Wallet]:
    stmt = select(Wallet).where(Wallet.id.in_(ids)).execution_options(populate_existing=True)
    return list(await session.scalars(stmt))


async def wallet(session: AsyncSession, wallet_id: int) -> Wallet | None:
    found = await wallets_by_ids(session, [wallet_id])
    return found[0] if found else None


async def wallets_of_ad_accounts(
    session: AsyncSession, ad_account_ids: Sequence[int]
) -> list[Wallet]:
    stmt = select(Wallet).where(Wallet.ad_account_id.in_(ad_account_ids))
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


async def wallets_of_centers(session: AsyncSession, center_ids: Sequence[int]) -> list[Wallet]:
    stmt = select(Wallet).where(
        Wallet.business_center_id.in_(center_ids), Wallet.ad_account_id.is_(None)
    )
    return list(await session.scalars(stmt.execution_options(populate_existing=True)))


@dataclass(frozen=True, slots=True)
class MovableWallet:
    """A wallet as a money move checks and describes it (see `movable_wallets`)."""

    id: int
    business_center_id: int
    ad_account_id: int | None
    currency: str
    credit_limit: int
    role: str | None  # the caller's in the wallet's center; None: not a member
    owner_name: str  # the name a customer knows it by: its ad account's, else its center's
    waiting: list[int]  # its campaigns waiting for its money (`waiting_campaign_ids`)


async def movable_wallets(
    session: AsyncSession, user_id: int, wallet_ids: Sequence[int]
) -> dict[int, MovableWallet]:
    """The wallets with the user's role in each one's center, each one's owner name and
    campaigns waiting for its money, in one statement: what a transfer checks (access),
    writes (its description) and funds (read without a lock, as `waiting_campaign_ids`)."""
    rows = await raw.fetch(session, _MOVABLE_WALLETS, list(wallet_ids), user_id)
    return {row["id"]: MovableWallet(*row) for row in rows}


_MOVABLE_COLUMNS = (
    "SELECT w.id, w.business_center_id, w.ad_account_id, w.currency, w.credit_limit, m.role, "
    "COALESCE(a.name, c.name), ARRAY(SELECT p.id FROM campaigns p WHERE p.wallet_id = w.id "
    "AND p.status = 'PENDING_FUNDS' AND p.payment_plan = 'CREDIT_BALANCE' ORDER BY p.id)"
)
_MOVABLE_FROM = (
    "FROM wallets w "
    "JOIN business_centers c ON c.id = w.business_center_id "
    "LEFT JOIN ad_accounts a ON a.id = w.ad_account_id "
    "LEFT JOIN memberships m ON m.business_center_id = w.business_center_id AND m.user_id = $2 "
    "WHERE w.id = ANY($1::bigint[])"
)
_MOVABLE_WALLETS = f"{_MOVABLE_COLUMNS} {_MOVABLE_FROM}"


async def lock_centers_of_movable_wallets(
    session: AsyncSession, user_id: int, wallet_ids: Sequence[int], *, staff: bool
) -> tuple[dict[int, MovableWallet], dict[int, str]]:
    """`movable_wallets` that also locks their business centers (the first level of the
    lock order, by id) in the same statement, and answers each center's allocation mode.
    Only wallets of centers where the user is a member are read, and their centers locked
    (all of them for staff): naming another customer's wallet takes no lock on its center."""
    rows = await raw.fetch(session, _LOCK_MOVABLE_WALLETS, list(wallet_ids), user_id, staff)
    register(session, Level.BUSINESS_CENTERS, sorted({row["business_center_id"] for row in rows}))
    wallets = {row["id"]: MovableWallet(*tuple(row)[:-1]) for row in rows}
    return wallets, {row["business_center_id"]: row["allocation_mode"] for row in rows}


# Rows come out of the sort, then are locked: the centers are taken in id order.
_LOCK_MOVABLE_WALLETS = (
    f"{_MOVABLE_COLUMNS}, c.allocation_mode {_MOVABLE_FROM} "
    "AND (m.role IS NOT NULL OR $3::boolean) ORDER BY c.id FOR NO KEY UPDATE OF c"
)


async def center_mode_of(session: AsyncSession, wallet_id: int) -> tuple[int, str] | None:
    """The wallet's business center and its allocation mode, read without a lock (every
    money arrival asks it: one plain statement)."""
    row = await raw.fetchrow(session, _CENTER_MODE, wallet_id)
    return None if row is None else (row[0], row[1])


_CENTER_MODE = (
    "SELECT c.id, c.allocation_mode FROM wallets w "
    "JOIN business_centers c ON c.id = w.business_center_id WHERE w.id = $1"
)


async def owner_name(session: AsyncSession, wallet: Wallet | MovableWallet) -> str:
    """The name a customer knows the wallet by: its ad account's, else its center's."""
    if wallet.ad_account_id is not None:
        stmt = select(AdAccount.name).where(AdAccount.id == wallet.ad_account_id)
    else:
        stmt = select(BusinessCenter.name).where(BusinessCenter.id == wallet.business_center_id)
    return (await session.scalars(stmt)).one()


async def set_credit_limit(session: AsyncSession, wallet_id: int, limit: int, at: datetime) -> None:
    """The wallet's limit from `at` on; the limits it had are kept (a balance at an
    instant reads the one of that instant)."""
    await session.execute(update(Wallet).where(Wallet.id == wallet_id).values(credit_limit=limit))
    await raw.execute(session, _KEEP_CREDIT_LIMIT, wallet_id, at, limit)


_KEEP_CREDIT_LIMIT = (
    "INSERT INTO wallet_credit_limits (wallet_id, set_at, credit_limit) VALUES ($1, $2, $3)"
)


@dataclass(frozen=True, slots=True)
class WalletAccount:
    """Which account a wallet holds a bucket in (its balance is read under its lock:
    `ledger.lock_accounts`)."""

    id: int
    wallet_id: int
    kind: str
    currency: str


async def wallet_account(session: AsyncSession, wallet_id: int, kind: AccountKind) -> WalletAccount:
    """A plain statement: every money move into or out of a wallet asks it."""
    row = await raw.fetchrow(session, _WALLET_ACCOUNT, f"wallet:{wallet_id}:{kind.value}")
    if row is None:
        raise LookupError(f"wallet {wallet_id} has no {kind.value} account")
    return WalletAccount(row["id"], wallet_id, kind.value, row["currency"])


# By key (unique): a wallet's campaigns hold accounts under it too, four each.
_WALLET_ACCOUNT = "SELECT id, currency FROM ledger_accounts WHERE key = $1"


async def balances_by_wallet(
    session: AsyncSession, wallet_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """Sum of each account kind of the balance per wallet (`BALANCE_KINDS`: its buckets and
    its campaigns' holds)."""
    rows = await session.execute(_BALANCES, {"wallets": list(wallet_ids)})
    sums: dict[int, dict[str, int]] = defaultdict(dict)
    for wallet_id, kind, total in rows.all():
        sums[wallet_id][kind] = int(total)
    return sums


# The hot reads below are Core statements built once (their cache key is computed once),
# answering plain rows: no ORM object to build, no IN list to expand per call.
# Only the kinds the balance reads, along ix_ledger_accounts_wallet_id_kind: a wallet's
# campaigns add four accounts each under it, of which the balance reads the hold.
_KINDS = "ARRAY[" + ", ".join(f"'{kind.value}'" for kind in BALANCE_KINDS) + "]::varchar[]"
_BALANCES = text(
    "SELECT wallet_id, kind, SUM(balance)::bigint FROM ledger_accounts "
    f"WHERE wallet_id = ANY(:wallets) AND kind = ANY({_KINDS}) GROUP BY wallet_id, kind"
)


async def wallets_seen_by(
    session: AsyncSession | AsyncConnection,
    user_id: int,
    wallet_ids: Sequence[int],
    *,
    balances: bool = False,
) -> list[Any]:
    """The wallets (id, business_center_id, ad_account_id, currency, credit_limit) with
    `role`, the user's role in each wallet's business center (None: not a member), in one
    statement: the object and its access check together. `balances`: also `kinds` and
    `totals`, each account kind of the wallet and its sum (what `balances_by_wallet`
    answers), in the same statement."""
    sql = _WALLETS_SEEN_WITH_SUMS if balances else _WALLETS_SEEN
    return await raw.fetch(session, sql, user_id, list(wallet_ids))


async def wallets_at_commit(
    session: AsyncSession, user_id: int, wallet_ids: Sequence[int]
) -> list[Any]:
    """`wallets_seen_by` with balances, read by a write right before its commit for its
    answer, and what the balance guard asks of the same wallets (`balance_guard.
    guarded_wallets`): `guarded`, whether the wallet has an alert or an active recharge
    rule, and `account_ids`, its accounts."""
    return await raw.fetch(session, _WALLETS_AT_COMMIT, user_id, list(wallet_ids))


_WALLETS_SEEN_COLUMNS = (
    "SELECT w.id, w.business_center_id, w.ad_account_id, w.currency, w.credit_limit, m.role"
)
_WALLETS_SEEN_FROM = (
    " FROM wallets w LEFT JOIN memberships m "
    "ON m.business_center_id = w.business_center_id AND m.user_id = $1"
)
_WALLETS_SEEN = f"{_WALLETS_SEEN_COLUMNS}{_WALLETS_SEEN_FROM} WHERE w.id = ANY($2::bigint[])"
_WALLETS_SEEN_WITH_SUMS = (
    f"{_WALLETS_SEEN_COLUMNS}, s.kinds, s.totals{_WALLETS_SEEN_FROM} "
    "LEFT JOIN LATERAL (SELECT array_agg(k.kind) AS kinds, array_agg(k.total) AS totals "
    "FROM (SELECT kind, SUM(balance)::bigint AS total FROM ledger_accounts "
    f"WHERE wallet_id = w.id AND kind = ANY({_KINDS}) GROUP BY kind) k) s ON true "
    "WHERE w.id = ANY($2::bigint[])"
)
_WALLETS_AT_COMMIT = (
    f"{_WALLETS_SEEN_COLUMNS}, s.kinds, s.totals, "
    "ARRAY(SELECT la.id FROM ledger_accounts la WHERE la.key = ANY(ARRAY["
    "'wallet:' || w.id || ':cash', 'wallet:' || w.id || ':vouchers', "
    "'wallet:' || w.id || ':credit_line'])) AS account_ids, "
    "(EXISTS (SELECT 1 FROM balance_alerts a WHERE a.wallet_id = w.id) OR "
    "EXISTS (SELECT 1 FROM auto_recharge_rules r WHERE r.wallet_id = w.id "
    "AND r.status = 'ACTIVE')) AS guarded"
    f"{_WALLETS_SEEN_FROM} "
    "LEFT JOIN LATERAL (SELECT array_agg(k.kind) AS kinds, array_agg(k.total) AS totals "
    "FROM (SELECT kind, SUM(balance)::bigint AS total FROM ledger_accounts "
    f"WHERE wallet_id = w.id AND kind = ANY({_KINDS}) GROUP BY kind) k) s ON true "
    "WHERE w.id = ANY($2::bigint[])"
)


@dataclass(frozen=True, slots=True)
class TransactionRow:
    id: int
    wallet_id: int
    business_center_id: int
    currency: str
    kind: str
    bucket: str
    amount: int
    balance_after: int
    description: str
    created_at: datetime
    actor_email: str | None
    invoice_id: int | None
    campaign_id: int | None


def _transactions(*extra: Any) -> Select[*tuple[Any, ...]]:
    """Postings on wallet buckets with what the API shows beside each one."""
    stmt = (
        select(
            LedgerPosting.id,
            LedgerAccount.wallet_id,
            Wallet.business_center_id,
            Wallet.currency,
            LedgerPosting.kind,
            LedgerAccount.kind.label("bucket"),
            LedgerPosting.amount,
            LedgerPosting.balance_after,
            LedgerEntry.description,
            LedgerPosting.created_at,
            User.email.label("actor_email"),
            LedgerEntry.invoice_id,
            LedgerEntry.campaign_id,
            *extra,
        )
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .join(Wallet, Wallet.id == LedgerAccount.wallet_id)
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .outerjoin(User, User.id == LedgerEntry.actor_user_id)
        .where(LedgerAccount.kind.in_([kind.value for kind in WALLET_BUCKETS]))
    )
    return stmt


def _row(mapping: Any) -> TransactionRow:
    return TransactionRow(**{key: mapping[key] for key in TransactionRow.__slots__})


async def transactions_by_ids(session: AsyncSession, ids: Sequence[int]) -> list[TransactionRow]:
    result = await session.execute(_transactions().where(LedgerPosting.id.in_(ids)))
    return [_row(mapping) for mapping in result.mappings()]


async def transaction_pages(
    session: AsyncSession,
    wallet_ids: Sequence[int],
    *,
    limit: int,
    after_id: int | None,
    kinds: Sequence[str] | None,
) -> dict[int, list[TransactionRow]]:
    """Postings on the wallets' buckets, newest first, up to `limit` per wallet."""
    row_number = func.row_number().over(
        partition_by=LedgerAccount.wallet_id, order_by=LedgerPosting.id.desc()
    )
    inner = _transactions(row_number.label("rn")).where(LedgerAccount.wallet_id.in_(wallet_ids))
    if kinds is not None:
        inner = inner.where(LedgerPosting.kind.in_(kinds))
    if after_id is not None:
        inner = inner.where(LedgerPosting.id < after_id)
    sub = inner.subquery()
    stmt = select(sub).where(sub.c.rn <= limit).order_by(sub.c.wallet_id, sub.c.rn)
    pages: dict[int, list[TransactionRow]] = defaultdict(list)
    for mapping in (await session.execute(stmt)).mappings():
        pages[mapping["wallet_id"]].append(_row(mapping))
    return pages


async def bucket_accounts(
    session: AsyncSession, wallet_ids: Sequence[int]
) -> dict[int, dict[AccountKind, int]]:
    """Ledger account ids of each wallet's buckets, by kind."""
    stmt = select(LedgerAccount.wallet_id, LedgerAccount.kind, LedgerAccount.id).where(
        LedgerAccount.wallet_id.in_(wallet_ids),
        LedgerAccount.kind.in_([kind.value for kind in WALLET_BUCKETS]),
    )
    found: dict[int, dict[AccountKind, int]] = defaultdict(dict)
    for wallet_id, kind, account_id in (await session.execute(stmt)).all():
        if wallet_id is not None:
            found[wallet_id][AccountKind(kind)] = account_id
    return found


async def drawn_buckets(
    session: AsyncSession, wallet_ids: Sequence[int], center_ids: Sequence[int]
) -> tuple[dict[int, int | None], dict[int, dict[AccountKind, int]]]:
    """The wallets spend draws on (these ad accounts' and these centers' own), each with
    the center id for a center's wallet (None for an ad account's), and their buckets'
    ledger account ids by kind: in one statement."""
    rows = await session.execute(
        _DRAWN_BUCKETS, {"wallets": list(wallet_ids), "centers": list(center_ids)}
    )
    wallets: dict[int, int | None] = {}
    found: dict[int, dict[AccountKind, int]] = defaultdict(dict)
    for wallet_id, center_id, kind, account_id in rows.all():
        wallets[wallet_id] = center_id
        found[wallet_id][AccountKind(kind)] = account_id
    return wallets, found


_DRAWN_BUCKETS = text(
    "SELECT w.id, CASE WHEN w.ad_account_id IS NULL THEN w.business_center_id END, "
    "a.kind, a.id FROM wallets w JOIN ledger_accounts a ON a.wallet_id = w.id "
    "WHERE (w.id = ANY(:wallets) "
    "OR (w.ad_account_id IS NULL AND w.business_center_id = ANY(:centers))) "
    "AND a.kind IN ('cash', 'vouchers', 'credit_line')"
)


async def center_pools(session: AsyncSession, center_ids: Sequence[int]) -> dict[int, int]:
    """Per business center, its own cash plus what its credit line has left: what spend
    under automatic allocation may draw from it, read without a lock."""
    rows = await session.execute(_CENTER_POOLS, {"centers": list(center_ids)})
    return {center_id: int(pool) for center_id, pool in rows.all()}


_CENTER_POOLS = text(
    "SELECT w.business_center_id, SUM(CASE WHEN a.kind = 'cash' THEN a.balance "
    "ELSE a.balance + w.credit_limit END) FROM wallets w "
    "JOIN ledger_accounts a ON a.wallet_id = w.id "
    "WHERE w.ad_account_id IS NULL AND w.business_center_id = ANY(:centers) "
    "AND a.kind IN ('cash', 'credit_line') GROUP BY w.business_center_id"
)


async def own_money(session: AsyncSession, wallet_ids: Sequence[int]) -> dict[int, int]:
    """Per wallet, its cash and vouchers: what an ad account may spend of its own under
    automatic allocation, read without a lock."""
    stmt = (
        select(LedgerAccount.wallet_id, func.sum(LedgerAccount.balance))
        .where(
            LedgerAccount.wallet_id.in_(wallet_ids),
            LedgerAccount.kind.in_([AccountKind.CASH.value, AccountKind.VOUCHERS.value]),
        )
        .group_by(LedgerAccount.wallet_id)
    )
    rows = (await session.execute(stmt)).all()
    return {wallet_id: int(total) for wallet_id, total in rows if wallet_id is not None}
