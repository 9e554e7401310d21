"""Calendar months in UTC: the unit the ledger's growing tables are partitioned by."""

from __future__ import annotations

from datetime import UTC, date, datetime


def month_of(moment: datetime) -> date:
    """The first day of the UTC month holding `moment`."""
    utc = moment.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_from(first: date, count: int) -> list[date]:
    """`count` consecutive months starting with the month of `first`."""
    month = date(first.year, first.month, 1)
    months = []
    for _ in range(count):
        months.append(month)
        month = next_month(month)
    return months


def month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def boundaries_between(first: datetime, last: datetime) -> list[datetime]:
    """The starts of the months after `first`'s, up to and including `last`'s month."""
    month, end = next_month(month_of(first)), month_of(last)
    starts = []
    while month <= end:
        starts.append(month_start(month))
        month = next_month(month)
    return starts


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
