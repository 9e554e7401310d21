"""Balance guard (issue 27): what a transaction's money moves mean for the wallets they
touched (their low-balance alerts, their automatic recharge), decided once, at the end of
the transaction, before it commits.

Every entry (`ledger.post_entry`) notes the customer accounts it moved (`guard_marks.touched`,
no statement); the edge that commits (the request's `ctx.write`, a job's `in_transaction`,
`store.db.transaction_runner` for webhooks, jobs and the demo) calls `settle` right
before the commit. Deciding there, and not at each entry: a transaction of many entries
(a spend batch) crosses a threshold once, and the guard's rows are locked after every
ledger account and invoice number the transaction takes, in the one lock order. The guard
itself numbers no invoice: a recharge it decides is an outbox effect, opened after the
commit (services/auto_recharge.py). Nothing touched: nothing read."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from adledger import clock
from adledger.services import auto_recharge, balance_alerts, guard_marks
from adledger.store import balance_guard as repo


async def settle(session: AsyncSession) -> None:
    """The guarded wallets the transaction's entries moved money of: their alerts and
    recharge rules decide now, in this transaction."""
    accounts = guard_marks.taken(session)
    if not accounts:
        return
    wallet_ids = await repo.guarded_wallets(session, accounts)
    if not wallet_ids:
        return
    now = clock.now()
    await balance_alerts.on_balances_changed(session, wallet_ids, now)
    await auto_recharge.on_balances_changed(session, wallet_ids, now)
