"""Statements and balances at an instant, as pure vocabulary (issue 29, DESIGN §10b).

A month is a calendar month in UTC, named `YYYY-MM`. A posting belongs to the month its
`created_at` falls in; postings are dated when they are written. A month is closed once
every posting dated in it is committed: from then on its statement never changes (a
posting dated in a closed month is refused by the database).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from adledger.domain.errors import InvalidInput
from adledger.domain.instants import utc_instant
from adledger.domain.ledger import AccountKind
from adledger.domain.months import month_of, month_start, next_month

_MONTH = re.compile(r"\A([0-9]{4})-(0[1-9]|1[0-2])\Z")


def parse_month(text: str, field: tuple[str, ...]) -> date:
    """`YYYY-MM` as the first day of that month, or INVALID_INPUT naming `field`."""
    found = _MONTH.match(text) if len(text) == 7 else None
    if found is None:
        raise InvalidInput(f"month must be YYYY-MM, not {text[:20]!r}", field)
    return date(int(found[1]), int(found[2]), 1)


def month_text(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def span(month: date) -> tuple[datetime, datetime]:
    """The instants of `month`: from its first, up to (not including) the next month's."""
    return month_start(month), month_start(next_month(month))


@dataclass(frozen=True, slots=True)
class Buckets:
    """A wallet's buckets as the ledger holds them at one instant (minor units): the credit
    line's is what is left of nothing, minus what is used (0 or below)."""

    cash: int = 0
    vouchers: int = 0
    credit_line: int = 0

    @classmethod
    def of(cls, by_kind: dict[AccountKind, int]) -> Buckets:
        return cls(
            by_kind.get(AccountKind.CASH, 0),
            by_kind.get(AccountKind.VOUCHERS, 0),
            by_kind.get(AccountKind.CREDIT_LINE, 0),
        )

    def available(self, credit_limit: int) -> int:
        """What could be spent: cash, vouchers and what the limit leaves of the line (as
        `Wallet.balance.available`, whose cash excludes what campaigns hold)."""
        return self.cash + self.vouchers + credit_limit + self.credit_line

    def plus(self, other: Buckets) -> Buckets:
        return Buckets(
            self.cash + other.cash,
            self.vouchers + other.vouchers,
            self.credit_line + other.credit_line,
        )


def instant_asked(at: datetime, now: datetime, field: tuple[str, ...]) -> datetime:
    """An instant a balance can be told at, in UTC: one with a UTC offset, not after now."""
    at = utc_instant(at, field)
    if at > now:
        raise InvalidInput("at is in the future: a balance is known up to now", field)
    return at


def check_opened(at: datetime, opened_at: datetime, field: tuple[str, ...]) -> None:
    if at < opened_at:
        raise InvalidInput(f"the wallet was opened at {opened_at.isoformat()}", field)


def check_month(month: date, opened_at: datetime, now: datetime, field: tuple[str, ...]) -> None:
    """A month the wallet existed in, up to this one."""
    if span(month)[1] <= opened_at:
        raise InvalidInput(
            f"the wallet was opened in {month_text(month_of(opened_at))}: no statement before",
            field,
        )
    if month_start(month) > now:
        raise InvalidInput("the month has not begun", field)
