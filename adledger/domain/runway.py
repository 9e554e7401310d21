"""Runway (issue 27) as pure rules: how fast a wallet's money goes, when it runs out at
that rate, and whether it covers what its live and scheduled campaigns may still take.

Burn rate. The spend of the `WINDOW` complete UTC days before today (today's is partial),
weighted linearly: yesterday counts `WINDOW` times, the day before `WINDOW - 1` times, ...,
the oldest once; burn = sum(weight x spend) / sum(weights). A day without spend counts as
0. Constant spend of c a day gives exactly c; a change shows within a day or two.

Days left = available / burn (None while burn is 0; 0 once nothing is available), and the
money runs out at now + days left (None beyond `HORIZON_DAYS`).

Committed view. Each campaign that may still take money from the wallet is a
`Commitment`: an amount drawn evenly over [starts, ends) (its remaining flight); one whose
flight is empty (or over) is due at once. The cumulative draw D(t) is then piecewise
linear; the shortfall instant is the first t at which D(t) exceeds the available balance,
and the shortfall is what all of them still take beyond it. Computed exactly in Fractions:
money stays in integer minor units, instants are rounded down to the microsecond.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from adledger.domain.errors import InvariantBroken

WINDOW = 7
HORIZON_DAYS = 3650
"""Money that lasts longer than this (ten years) runs out at no instant worth naming."""
DAY = timedelta(days=1)
_MICROSECONDS_A_DAY = 86_400_000_000


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def window_days(today: date, window: int = WINDOW) -> list[date]:
    """The complete days the burn rate weighs, newest first."""
    return [today - timedelta(days=k) for k in range(1, window + 1)]


def burn_rate(spend: Mapping[date, int], today: date, window: int = WINDOW) -> Fraction:
    """Spend per day, the recent days weighted more (the module's docstring)."""
    days = window_days(today, window)
    weighted = sum((window - k) * spend.get(day, 0) for k, day in enumerate(days))
    return Fraction(weighted, window * (window + 1) // 2)


def days_left(available: int, burn: Fraction) -> Fraction | None:
    if burn <= 0:
        return None
    return max(Fraction(available) / burn, Fraction(0))


def after_days(now: datetime, days: Fraction) -> datetime:
    """now + days, rounded down to the microsecond."""
    return now + timedelta(microseconds=math.floor(days * _MICROSECONDS_A_DAY))


@dataclass(frozen=True, slots=True)
class Commitment:
    """What a campaign may still take from the wallet, drawn evenly over [starts, ends)."""

    amount: int
    starts: datetime
    ends: datetime


def remaining(amount: int, starts_at: datetime, ends_at: datetime, now: datetime) -> Commitment:
    """A campaign's remaining draw over its remaining flight (from now, or its start); due
    at once when that flight is over."""
    starts = max(starts_at, now)
    return Commitment(max(amount, 0), starts, max(ends_at, starts))


def _drawn_by(commitment: Commitment, moment: datetime) -> Fraction:
    """What the commitment has taken by `moment` (nothing before it starts)."""
    if moment < commitment.starts:
        return Fraction(0)
    if moment >= commitment.ends:
        return Fraction(commitment.amount)
    span = commitment.ends - commitment.starts
    return Fraction(commitment.amount) * _micros(moment - commitment.starts) / _micros(span)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class Shortfall:
    at: datetime | None
    """First instant the balance no longer covers the commitments; None if it covers all."""
    amount: int
    """What they take beyond the balance, in all; 0 if nothing."""


def committed_shortfall(
    available: int, commitments: Sequence[Commitment], now: datetime
) -> Shortfall:
    """The first instant the cumulative draw exceeds `available` (the module's docstring)."""
    live = [c for c in commitments if c.amount > 0]
    total = sum(c.amount for c in live)
    if total <= available:
        return Shortfall(None, 0)
    points = sorted({now, *(max(c.starts, now) for c in live), *(c.ends for c in live)})
    points = [p for p in points if p >= now]
    before = _draw(live, now, now)
    if before > available:
        return Shortfall(now, total - available)
    for start, end in itertools.pairwise(points):
        linear = _draw(live, end, start)
        if linear > available:
            return Shortfall(_crossing(start, end, before, linear, available), total - available)
        before = _draw(live, end, end)
        if before > available:  # a commitment due at once, at `end`
            return Shortfall(end, total - available)
    raise InvariantBroken("the draw reaches its total at the last point")


def _draw(live: Sequence[Commitment], moment: datetime, lumps_until: datetime) -> Fraction:
    """D(moment): what the commitments have taken by then, counting those due at once
    (an empty flight) only up to `lumps_until` (D's limit from the left at a jump)."""
    return sum(
        (
            _drawn_by(c, moment)
            for c in live
            if c.starts < c.ends or max(c.starts, c.ends) <= lumps_until
        ),
        Fraction(0),
    )


def _crossing(
    start: datetime, end: datetime, before: Fraction, after: Fraction, available: int
) -> datetime:
    """Where the draw, linear from `before` at start to `after` at end, exceeds available."""
    share = (available - before) / (after - before)
    return after_days(start, share * Fraction(_micros(end - start), _MICROSECONDS_A_DAY))


@dataclass(frozen=True, slots=True)
class Runway:
    burn_per_day: Fraction
    days_left: Fraction | None
    runs_out_at: datetime | None
    shortfall_at: datetime | None
    shortfall: int


def runway(
    available: int,
    spend: Mapping[date, int],
    commitments: Sequence[Commitment],
    now: datetime,
    window: int = WINDOW,
) -> Runway:
    burn = burn_rate(spend, utc_day(now), window)
    left = days_left(available, burn)
    short = committed_shortfall(available, commitments, now)
    return Runway(
        burn,
        left,
        None if left is None or left > HORIZON_DAYS else after_days(now, left),
        short.at,
        short.amount,
    )
