"""Ledger writes and the checks behind `adledger verify-ledger`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.domain.errors import InvariantBroken
from adledger.domain.ledger import (
    CAMPAIGN_KINDS,
    PLATFORM_KINDS,
    AccountKind,
    AccountState,
    Posting,
)
from adledger.store import raw
from adledger.store.locks import Level, register, register_owned
from adledger.store.models import LedgerPosting

_PLATFORM_KINDS = [kind.value for kind in PLATFORM_KINDS]


async def lock_accounts(session: AsyncSession, ids: Sequence[int]) -> dict[int, AccountState]:
    """Customer accounts locked in ascending id order, the one order every writer uses, so
    writers touching the same accounts queue instead of deadlocking.

    Platform accounts are read, never locked: they have no floor, and a lock would make
    each of them the row every customer's money queues behind. Their balance is not
    cached (it is the sum of their postings), so their state carries a balance of 0."""
    wanted = sorted(set(ids))
    rows = await raw.fetch(session, _LOCK_CUSTOMER_ACCOUNTS, wanted, _PLATFORM_KINDS)
    states = {
        row["id"]: AccountState(AccountKind(row["kind"]), row["balance"], row["currency"], row[4])
        for row in rows
    }
    _register(session, states)
    if len(states) < len(wanted):
        for row in await raw.fetch(session, _PLATFORM_ACCOUNTS, wanted, _PLATFORM_KINDS):
            states[row["id"]] = AccountState.platform(AccountKind(row["kind"]), row["currency"])
    return states


_LOCK_CUSTOMER_ACCOUNTS = (
    "SELECT a.id, a.kind, a.balance, a.currency, COALESCE(w.credit_limit, 0) "
    "FROM ledger_accounts a LEFT JOIN wallets w ON w.id = a.wallet_id "
    "WHERE a.id = ANY($1::bigint[]) AND a.kind <> ALL($2::varchar[]) "
    "ORDER BY a.id FOR NO KEY UPDATE OF a"
)
_PLATFORM_ACCOUNTS = (
    "SELECT id, kind, currency FROM ledger_accounts "
    "WHERE id = ANY($1::bigint[]) AND kind = ANY($2::varchar[]) ORDER BY id"
)


async def lock_wallet_accounts(
    session: AsyncSession, wallet_ids: Sequence[int], kind: AccountKind
) -> dict[int, tuple[int, AccountState]]:
    """The `kind` account of each wallet, locked in ascending id order as `lock_accounts`
    locks them, found and locked in one statement: wallet id -> (account id, state)."""
    keys = [f"wallet:{wallet_id}:{kind.value}" for wallet_id in sorted(set(wallet_ids))]
    rows = await raw.fetch(session, _LOCK_WALLET_ACCOUNTS, keys)
    register(session, Level.LEDGER_ACCOUNTS, [row["id"] for row in rows])
    return {
        row["wallet_id"]: (row["id"], AccountState(kind, row["balance"], row["currency"], row[4]))
        for row in rows
    }


# A wallet's accounts are customer accounts: no platform account is among them. Found by
# key (unique), not by wallet and kind: every campaign of a wallet adds four accounts
# under it, and a wallet of many campaigns would make that a long scan.
_LOCK_WALLET_ACCOUNTS = (
    "SELECT a.id, a.wallet_id, a.balance, a.currency, COALESCE(w.credit_limit, 0) "
    "FROM ledger_accounts a JOIN wallets w ON w.id = a.wallet_id "
    "WHERE a.key = ANY($1::varchar[]) ORDER BY a.id FOR NO KEY UPDATE OF a"
)


def _register(session: AsyncSession, states: dict[int, AccountState]) -> None:
    """The wallets' accounts by id; a campaign's own under its campaign row (store/locks.py)."""
    if any(state.kind in CAMPAIGN_KINDS for state in states.values()):
        register_owned(session, Level.CAMPAIGNS)
    register(
        session,
        Level.LEDGER_ACCOUNTS,
        [i for i, s in states.items() if s.kind not in CAMPAIGN_KINDS],
    )


async def platform_account_id(session: AsyncSession, kind: AccountKind, currency: str) -> int:
    """The platform's account of this kind and currency, created on first use, in one
    round trip (spend asks for revenue's on every batch)."""
    key = f"platform:{kind.value}:{currency}"
    found = await raw.fetchval(session, _PLATFORM_ACCOUNT, key, kind.value, currency, clock.now())
    if found is None:
        # Created by a transaction that committed after this statement's snapshot was
        # taken: ON CONFLICT waited for it, and a new statement sees it.
        found = await raw.fetchval(session, "SELECT id FROM ledger_accounts WHERE key = $1", key)
    if found is None:
        raise InvariantBroken("found is not None")
    return int(found)


_PLATFORM_ACCOUNT = (
    "WITH created AS (INSERT INTO ledger_accounts (key, kind, currency, balance, created_at) "
    "VALUES ($1, $2, $3, 0, $4::timestamptz) "
    "ON CONFLICT (key) DO NOTHING RETURNING id) "
    "SELECT id FROM created UNION ALL "
    "SELECT id FROM ledger_accounts WHERE key = $1 LIMIT 1"
)


async def write_entry(
    session: AsyncSession,
    *,
    operation: str,
    idempotency_key: str,
    description: str,
    actor_user_id: int | None,
    invoice_id: int | None,
    postings: Sequence[Posting],
    campaign_id: int | None = None,
    balances_after: Sequence[int | None],
    balances: dict[int, int],
) -> int:
    """Append the entry. `balances_after`: each posting's running balance, None for a
    platform account's; `balances`: the customer accounts' cached balances after it
    (platform accounts have none, so writing them takes no lock). One statement: the
    entry, its postings in order, and the cached balances (it runs under the locks of
    every account it moves, so each round trip here is one every writer queues behind).

    The entry and its postings are dated by the one clock as they are written, inside the
    transaction (so after its start; verify-ledger's horizon relies on it)."""
    entry_id = await raw.fetchval(
        session,
        _WRITE_ENTRY,
        operation,
        idempotency_key,
        description,
        actor_user_id,
        invoice_id,
        campaign_id,
        clock.now(),
        [p.account_id for p in postings],
        [p.amount for p in postings],
        list(balances_after),
        [p.kind.value for p in postings],
        list(balances),
        list(balances.values()),
    )
    if entry_id is None:
        raise InvariantBroken("entry_id is not None")
    return int(entry_id)


_WRITE_ENTRY = (
    "WITH entry AS (INSERT INTO ledger_entries "
    "(operation, idempotency_key, description, actor_user_id, invoice_id, campaign_id, "
    "created_at) VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::bigint, $7::timestamptz) "
    "RETURNING id, created_at), "
    "posted AS (INSERT INTO ledger_postings "
    "(entry_id, account_id, amount, balance_after, kind, created_at) "
    "SELECT entry.id, p.account_id, p.amount, p.balance_after, p.kind, entry.created_at "
    "FROM entry, unnest($8::bigint[], $9::bigint[], $10::bigint[], $11::varchar[]) "
    "WITH ORDINALITY AS p(account_id, amount, balance_after, kind, n) ORDER BY p.n), "
    "cached AS (UPDATE ledger_accounts a SET balance = c.balance "
    "FROM unnest($12::bigint[], $13::bigint[]) AS c(id, balance) WHERE a.id = c.id) "
    "SELECT id FROM entry"
)


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    detail: str


async def platform_balance(session: AsyncSession, account_id: int) -> int:
    """A platform account's balance: the sum of its postings (nothing caches it)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerPosting.amount), 0)).where(
            LedgerPosting.account_id == account_id
        )
    )
    return int(total or 0)
