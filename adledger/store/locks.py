"""The one lock order, for every writer (request, webhook or job), and its guard.

Writers take their row locks level by level, in the order of `Level`, and within the
levels marked "by id" in ascending id order. A writer that needs a later lock never waits
for an earlier one while holding it, so concurrent writers queue instead of deadlocking.
Platform ledger accounts are never locked (their balance is the sum of their postings).
A campaign's own ledger accounts (reserve, voucher reserve, hold, receivable) are taken only
under its campaign's row lock, which serialises their writers: they follow no id order
(`register_owned`).
Every row lock is FOR NO KEY UPDATE (`with_for_update(key_share=True)`), never FOR UPDATE:
inserting a row that references a locked one takes a KEY SHARE lock on it, which FOR UPDATE
would block, outside this order.

Every `lock_*` function of `store/` tells `register` what it takes. With the guard on (the
test suite, or LOCK_ORDER_CHECK=1 for a process) taking a lock below one already held
raises `LockOrderViolation`, naming both; off (production), `register` returns at once.
The session remembers what its transaction holds (`session.info`); the guard forgets it
when the transaction ends (commit or rollback).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction


class Level(IntEnum):
    """The lock order, first to last."""

    SUBJECT = 1
    BUSINESS_CENTERS = 2
    CAMPAIGNS = 3
    AD_ACCOUNTS = 4
    CAMPAIGN_ROWS = 5
    LEDGER_ACCOUNTS = 6
    REFUND_ROWS = 7
    INVOICE_COUNTER = 8
    BALANCE_GUARD = 9
    EVENT_SEQUENCE = 10

    @property
    def by_id(self) -> bool:
        """Rows of this level are taken in ascending id order."""
        return self in _BY_ID

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_BY_ID = frozenset(
    {Level.BUSINESS_CENTERS, Level.AD_ACCOUNTS, Level.CAMPAIGNS, Level.LEDGER_ACCOUNTS}
)

_MEANINGS: dict[Level, str] = {
    Level.SUBJECT: "the row a webhook or job acts on, taken first: an invoice that belongs "
    "to no campaign and its top-up, an invitation; a spend batch's event ids, claimed by "
    "inserting them in id order before it locks any campaign",
    Level.BUSINESS_CENTERS: "business centers, by id, and their per-center rows (plan "
    "subscription)",
    Level.CAMPAIGNS: "campaigns, by id",
    Level.AD_ACCOUNTS: "ad accounts, by id (their budget cap and its counter); a writer "
    "that may stop or restart an account's campaigns for its cap reads which before it "
    "locks them, and checks again once the account is held (`LockScopeChanged`)",
    Level.CAMPAIGN_ROWS: "rows of a locked campaign: the invoices of a campaign paid by card, "
    "its cancellation requests, its makegood offers",
    Level.LEDGER_ACCOUNTS: "customer ledger accounts: a wallet's by id; a campaign's own "
    "(reserve, voucher reserve, hold, receivable) in any order while its campaign is held "
    "(platform accounts are never locked)",
    Level.REFUND_ROWS: "refund requests, then a center's payment lots and refunds",
    Level.INVOICE_COUNTER: "the invoice counter (numbers are handed out in commit "
    "order, without gaps)",
    Level.BALANCE_GUARD: "a wallet's balance guard, after the invoice counter: its spend "
    "per day (a spend batch's one upsert of `wallet_spend_days`, rows in ascending wallet "
    "id, after the batch's ledger moves), then its alerts and its recharge rule, taken "
    "after the transaction's money moves (by services/balance_guard.py right before the "
    "commit, by a recharge paid or declined, by a member setting them); a transaction "
    "holding them numbers no invoice after (a recharge the rule decides is opened after "
    "the commit, by its outbox effect, which takes the counter first: "
    "services/auto_recharge.py)",
    Level.EVENT_SEQUENCE: "the centers' event sequence counters, last, in ascending center "
    "id, taken with the transaction's events right before its commit (they are numbered in "
    "commit order, without gaps)",
}


def describe_order() -> str:
    """The order as a numbered Markdown list (docs/operations.md holds it verbatim)."""
    return "\n".join(f"{level.value}. `{level.name}`: {level.meaning};" for level in Level)


class LockOrderViolation(RuntimeError):
    """A lock was taken below one its transaction already holds: a deadlock risk."""


class LockScopeChanged(Exception):
    """A writer chose the rows to lock from what it read before holding them (the campaigns
    an ad account's cap may stop are locked before the account), and once it held them
    found it needed more: it cannot take them now without breaking the order. Its
    transaction rolls back and the edge runs it again, up to `RETRIES` times (a concurrent
    writer changed what it read; the next run reads that change)."""


RETRIES = 5


_INFO_KEY = "adledger.locks.held"
_EXEMPT_KEY = "adledger.locks.exempt"
_enabled = False


def configure(enabled: bool) -> None:
    """Turn the guard on or off for this process (read once at startup: LOCK_ORDER_CHECK)."""
    global _enabled
    _enabled = enabled
    if enabled and not event.contains(Session, "after_commit", _forget):
        event.listen(Session, "after_commit", _forget)
        event.listen(Session, "after_rollback", _forget)
        event.listen(Session, "after_soft_rollback", _forget_soft)


def enabled() -> bool:
    return _enabled


def register(session: Any, level: Level, ids: Iterable[int] = ()) -> None:
    """`session` (sync or async) takes locks at `level` (on these rows, for a level taken by
    id); raises LockOrderViolation if that is below what it holds. Call it before the
    statement when the rows are known, so the check comes before any wait."""
    if not _enabled or session.info.get(_EXEMPT_KEY):
        return
    held = session.info.get(_INFO_KEY)
    if held is None:
        held = session.info[_INFO_KEY] = _Held()
    held.take(level, ids)


def exempt(session: Any) -> None:
    """The guard stops checking this session's transaction, until it ends: only for one
    that no other writer can meet (the demo seed, which runs many operations in one
    transaction before anything else runs on its database)."""
    session.info[_EXEMPT_KEY] = True


def register_owned(session: Any, owner: Level) -> None:
    """`session` takes rows that only writers holding their owner's lock take (a campaign's
    own ledger accounts, under its campaign row): that lock serialises them, so they are
    taken in any order once it is held; raises LockOrderViolation if it is not."""
    if not _enabled or session.info.get(_EXEMPT_KEY):
        return
    held = session.info.get(_INFO_KEY)
    if held is None or not held.ids.get(owner):
        raise LockOrderViolation(
            f"lock order: taking rows owned by {owner.name} without holding {owner.name}; "
            "the order is adledger/store/locks.py's Level"
        )


@dataclass(slots=True)
class _Held:
    top: Level | None = None
    ids: dict[Level, set[int]] = field(default_factory=dict)

    def take(self, level: Level, ids: Iterable[int]) -> None:
        asked = set(ids)
        if level.by_id and not asked:
            return  # no row: nothing locked
        mine = self.ids.setdefault(level, set())
        new = asked - mine
        if asked and not new:
            return  # already ours: no wait
        if self.top is not None and level < self.top:
            raise self._violation(level, new, self.top)
        if level.by_id and new and mine and min(new) < max(mine):
            raise self._violation(level, new, level)
        mine.update(new)
        self.top = level

    def _violation(self, level: Level, new: set[int], holding: Level) -> LockOrderViolation:
        return LockOrderViolation(
            f"lock order: taking {_rows(level, new)} while holding "
            f"{_rows(holding, self.ids.get(holding, set()))}; "
            "the order is adledger/store/locks.py's Level"
        )


def _rows(level: Level, ids: set[int]) -> str:
    return f"{level.name} {sorted(ids)}" if ids else level.name


def _forget(session: Session, *_: Any) -> None:
    session.info.pop(_INFO_KEY, None)
    session.info.pop(_EXEMPT_KEY, None)


def _forget_soft(session: Session, previous_transaction: SessionTransaction) -> None:
    # A savepoint rolled back keeps the outer transaction's locks; the outermost one ending
    # releases them all. (Forgetting on every rollback would only miss a violation.)
    if not previous_transaction.nested:
        _forget(session)
