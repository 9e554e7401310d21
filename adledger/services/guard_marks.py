"""The customer accounts a transaction's entries moved, noted for the balance guard
(services/balance_guard.py) without a statement. Its own module: the ledger notes, and
imports nothing of the guard's (which reaches invoices, payments and the outbox)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

_TOUCHED = "adledger_guard_touched"


def touched(session: AsyncSession, account_ids: Iterable[int]) -> None:
    """Note the customer accounts an entry moved (platform ones are never guarded)."""
    session.info.setdefault(_TOUCHED, set()).update(account_ids)


def unguarded(session: AsyncSession, account_ids: Iterable[int]) -> None:
    """These accounts' wallets were seen to have no alert and no active recharge rule by a
    statement of this transaction after its last money move (a write's answer, read right
    before the commit, as `balance_guard.settle` would read it): settle need not ask."""
    touched_ids = session.info.get(_TOUCHED)
    if touched_ids:
        touched_ids.difference_update(account_ids)


def taken(session: AsyncSession) -> list[int]:
    """The accounts noted since the last call, in id order; forgotten here."""
    return sorted(session.info.pop(_TOUCHED, None) or ())


def _forget(session: Session, transaction: SessionTransaction) -> None:
    """The transaction ended (rolled back, or committed after `taken`): nothing of it is
    left for the next one to settle."""
    if transaction.parent is None:
        session.info.pop(_TOUCHED, None)


event.listen(Session, "after_transaction_end", _forget)
