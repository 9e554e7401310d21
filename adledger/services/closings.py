"""Closing the ledger's months (issue 29): once every posting dated in a month is
committed, its closing balances are kept, and from then on it never changes (the database
refuses a posting dated in a closed month, migration 0023).

A month is closed only when it has ended before the settled horizon
(store/ledger_checks.py): the start of the oldest transaction still open, less the margin
for the hosts' clocks. A transaction open since before the month ended may still write
postings dated in it; one begun after cannot, unless its host's clock is that far behind,
and then the database refuses its posting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.statements import month_text, span
from adledger.store import closings as repo


@dataclass(frozen=True, slots=True)
class ClosedMonth:
    month: date
    accounts: int
    """Wallet bucket accounts that moved in it (each got its closing)."""

    def __str__(self) -> str:
        return f"{month_text(self.month)} ({self.accounts} account(s) moved)"


async def close_next_month(
    session: AsyncSession, horizon: datetime, now: datetime
) -> ClosedMonth | None:
    """Close the first month not closed yet, if it ended before `horizon` and `now`; None
    when there is none to close (or a concurrent run just closed it)."""
    month = await repo.next_to_close(session)
    if month is None or span(month)[1] > min(horizon, now):
        return None
    accounts = await repo.close(session, month, span(month), now)
    return None if accounts is None else ClosedMonth(month, accounts)
