"""Payment schedules of campaigns paid by card or on a credit line (DESIGN §8, the Adomni
page): how many invoices, for how much, on which dates; and the credit line's cycles.

A price under the threshold (250.00, or the currency's own setting) is one invoice at
launch. Otherwise the flight sets the interval: under 28 days an invoice every 7 days,
28 days or more every 14; n = ceil(flight days / interval), a partial day counting as a
day. The parts are equal and the last takes the remainder, so they sum to the price
exactly in every currency. The first is issued at launch; each later one an interval
after the one before, the second an interval after the flight starts (or after the
launch, when the campaign is launched once its flight has begun).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from adledger.domain.errors import InvalidInput

DAY = timedelta(days=1)
SHORT_FLIGHT_DAYS = 28
SHORT_INTERVAL = timedelta(days=7)
LONG_INTERVAL = timedelta(days=14)
CYCLE_DAYS = 28


class CardPlan(enum.StrEnum):
    INSTALLMENTS = "INSTALLMENTS"
    PREPAY = "PREPAY"


@dataclass(frozen=True, slots=True)
class Installment:
    number: int
    """1-based."""
    amount: int
    issue_on: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    installments: tuple[Installment, ...]
    interval: timedelta | None
    """None for a single invoice."""

    @property
    def count(self) -> int:
        return len(self.installments)

    @property
    def total(self) -> int:
        return sum(part.amount for part in self.installments)


def flight_days(starts_at: datetime, ends_at: datetime) -> int:
    if ends_at <= starts_at:
        raise InvalidInput("a flight ends after it starts")
    return math.ceil((ends_at - starts_at) / DAY)


def interval_for(days: int) -> timedelta:
    return SHORT_INTERVAL if days < SHORT_FLIGHT_DAYS else LONG_INTERVAL


def split_evenly(price: int, count: int) -> list[int]:
    """`count` equal parts of `price` (minor units), the last taking the remainder."""
    if price <= 0 or count <= 0:
        raise InvalidInput("a price and a count of parts above zero")
    part = price // count
    return [part] * (count - 1) + [price - part * (count - 1)]


def card_schedule(
    plan: CardPlan,
    price: int,
    threshold: int,
    flight: tuple[datetime, datetime],
    launched_at: datetime,
) -> Schedule:
    """The invoices of a campaign paid by card, made at launch."""
    starts_at, ends_at = flight
    days = flight_days(starts_at, ends_at)
    if plan is CardPlan.PREPAY or price < threshold:
        return Schedule((Installment(1, price, launched_at),), None)
    interval = interval_for(days)
    count = min(math.ceil(days / interval.days), price)  # every part at least one unit
    if count == 1:
        return Schedule((Installment(1, price, launched_at),), None)
    anchor = max(starts_at, launched_at)
    dates = [launched_at] + [anchor + interval * k for k in range(1, count)]
    parts = split_evenly(price, count)
    installments = tuple(
        Installment(n, amount, date)
        for n, (amount, date) in enumerate(zip(parts, dates, strict=True), 1)
    )
    return Schedule(installments, interval)


class CycleKind(enum.StrEnum):
    TWENTY_EIGHT_DAYS = "TWENTY_EIGHT_DAYS"
    CALENDAR_MONTH = "CALENDAR_MONTH"


@dataclass(frozen=True, slots=True)
class Cycle:
    start: datetime
    end: datetime
    """Exclusive."""

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at < self.end


def cycle_at(kind: CycleKind, anchor: datetime, at: datetime) -> Cycle:
    """The credit line's cycle holding `at`: calendar months (UTC), or 28-day cycles
    counted from `anchor` (when the credit line was granted)."""
    if kind is CycleKind.CALENDAR_MONTH:
        start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return Cycle(start, _next_month(start))
    length = timedelta(days=CYCLE_DAYS)
    start = anchor + length * ((at - anchor) // length)
    return Cycle(start, start + length)


def _next_month(start: datetime) -> datetime:
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


@dataclass(frozen=True, slots=True)
class PlanSettlement:
    """How a card plan ends early or short: each unpaid invoice's new amount due, in
    order (0 voids it), and the unspent part of what was paid, which becomes credit."""

    amounts_due: tuple[int, ...]
    credit: int


def settle_plan(paid: int, spent: int, unpaid: Sequence[int]) -> PlanSettlement:
    """Bill exactly what was delivered: the unpaid invoices, in order, keep what the
    spend beyond the payments needs (the last one kept is reduced, the rest voided);
    spend below the payments leaves their unspent rest as credit."""
    if min(paid, spent, *unpaid, 0) < 0:
        raise InvalidInput("amounts are zero or more")
    need = spent - paid
    if need > sum(unpaid):
        raise InvalidInput("spend beyond what was paid and is still owed")
    due: list[int] = []
    for amount in unpaid:
        kept = min(amount, max(need, 0))
        due.append(kept)
        need -= kept
    return PlanSettlement(tuple(due), max(paid - spent, 0))
