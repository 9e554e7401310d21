"""The one way money moves: lock the accounts, apply the domain rules, append the entry.

The one lock order, for every writer (request, webhook or job), is `Level` in
`adledger/store/locks.py`: every `lock_*` function of `store/` registers its level there,
and the test suite (or LOCK_ORDER_CHECK=1) raises on a lock taken out of that order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.ledger import (
    AccountKind,
    AccountState,
    Move,
    Posting,
    TransactionKind,
    apply_postings,
    postings_for,
)
from adledger.domain.money import Money
from adledger.services import guard_marks
from adledger.store import ledger as repo
from adledger.store import wallets as wallet_repo


async def post_entry(
    session: AsyncSession,
    *,
    operation: str,
    moves: Sequence[Move],
    description: str,
    actor_user_id: int | None,
    idempotency_key: str | None = None,
    invoice_id: int | None = None,
    campaign_id: int | None = None,
    locked: dict[int, AccountState] | None = None,
) -> int:
    """`locked`: accounts this transaction already holds, in their current state (a
    platform account's as `AccountState.platform` gives it); when they cover the entry it
    locks nothing more, and their states are kept current for the next entry."""
    postings = postings_for(moves)
    accounts = await _accounts(session, [p.account_id for p in postings], locked)
    applied = apply_entry(postings, accounts, locked)
    guard_marks.touched(session, applied.balances)
    return await repo.write_entry(
        session,
        operation=operation,
        idempotency_key=idempotency_key or f"{operation}:{uuid.uuid4()}",
        description=description,
        actor_user_id=actor_user_id,
        invoice_id=invoice_id,
        campaign_id=campaign_id,
        postings=postings,
        balances_after=applied.balances_after,
        balances=applied.balances,
    )


@dataclass(frozen=True, slots=True)
class AppliedEntry:
    balances_after: list[int | None]
    """Each posting's running balance; None for a platform account's (never cached)."""
    balances: dict[int, int]
    """Each customer account the entry moves → its balance after it."""


def apply_entry(
    postings: Sequence[Posting],
    accounts: dict[int, AccountState],
    locked: dict[int, AccountState] | None = None,
) -> AppliedEntry:
    """The entry's postings applied to the states of the accounts it moves (the domain's
    floors: InsufficientFunds); the customer accounts' new states kept in `locked`, for
    the transaction's next entry. Every writer of entries applies them here."""
    applied = apply_postings(accounts, postings)
    platform = {i for i, state in accounts.items() if state.kind.is_platform}
    balances = {i: b for i, b in applied.balances.items() if i not in platform}
    if locked is not None:
        locked.update((i, replace(accounts[i], balance=b)) for i, b in balances.items())
    afters = [
        None if p.account_id in platform else after
        for p, after in zip(postings, applied.balances_after, strict=True)
    ]
    return AppliedEntry(afters, balances)


async def _accounts(
    session: AsyncSession, ids: list[int], locked: dict[int, AccountState] | None
) -> dict[int, AccountState]:
    if locked is not None and all(i in locked for i in ids):
        return {i: locked[i] for i in ids}
    return await repo.lock_accounts(session, ids)


@dataclass(frozen=True, slots=True)
class PlatformCredit:
    """Money entering a wallet bucket from one of the platform's own accounts."""

    wallet_id: int
    bucket: AccountKind
    source: AccountKind
    amount: Money
    kind: TransactionKind
    description: str
    actor_user_id: int | None = None
    idempotency_key: str | None = None
    invoice_id: int | None = None
    campaign_id: int | None = None


async def credit_from_platform(session: AsyncSession, credit: PlatformCredit) -> int:
    source = await repo.platform_account_id(session, credit.source, credit.amount.currency.value)
    target = await wallet_repo.wallet_account(session, credit.wallet_id, credit.bucket)
    return await post_entry(
        session,
        operation=credit.kind.value.lower(),
        moves=[Move(source, target.id, credit.amount.minor, credit.kind)],
        description=credit.description,
        actor_user_id=credit.actor_user_id,
        idempotency_key=credit.idempotency_key,
        invoice_id=credit.invoice_id,
        campaign_id=credit.campaign_id,
    )
