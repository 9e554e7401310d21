"""Runway (domain/runway.py): the burn rate is exact for constant spend, nothing is ever
negative, and the committed shortfall's day is the one a day-by-day simulation of the
campaigns' budgets finds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.runway import (
    DAY,
    HORIZON_DAYS,
    Commitment,
    burn_rate,
    committed_shortfall,
    remaining,
    runway,
    utc_day,
)

NOW = datetime(2027, 2, 27, 15, 30, tzinfo=UTC)
AMOUNTS = st.integers(min_value=0, max_value=10**9)
SPEND_DAYS = st.dictionaries(
    st.integers(min_value=0, max_value=30).map(lambda k: utc_day(NOW) - timedelta(days=k)),
    AMOUNTS,
    max_size=31,
)


@st.composite
def commitments(draw: st.DrawFn) -> Commitment:
    """A campaign's remaining budget over a flight that starts and ends on the hour, in
    the past (due at once), now or up to 20 days ahead."""
    amount = draw(st.integers(min_value=0, max_value=10**7))
    start = draw(st.integers(min_value=-48, max_value=20 * 24))
    hours = draw(st.integers(min_value=0, max_value=20 * 24))
    hour = NOW.replace(minute=0)
    starts = hour + timedelta(hours=start)
    return remaining(amount, starts, starts + timedelta(hours=hours), NOW)


def test_given_constant_spend_when_burn_then_exactly_that_spend() -> None:
    # given 1,234.56 spent on each of the last 10 days, and a partial today
    today = utc_day(NOW)
    spend = {today - timedelta(days=k): 123_456 for k in range(1, 11)}
    spend[today] = 7
    # when / then
    assert burn_rate(spend, today) == 123_456


@given(amount=AMOUNTS, available=AMOUNTS)
def test_given_constant_spend_when_runway_then_days_left_is_available_over_it(
    amount: int, available: int
) -> None:
    today = utc_day(NOW)
    spend = {today - timedelta(days=k): amount for k in range(1, 8)}
    result = runway(available, spend, [], NOW)
    assert result.burn_per_day == amount
    if amount == 0:
        assert result.days_left is None
        assert result.runs_out_at is None
    else:
        assert result.days_left == Fraction(available, amount)
        micros = available * 86_400_000_000 // amount
        if micros <= HORIZON_DAYS * 86_400_000_000:
            assert result.runs_out_at == NOW + timedelta(microseconds=micros)
        else:
            assert result.runs_out_at is None


def test_given_recent_days_when_burn_then_weighted_seven_to_one() -> None:
    # given 700 spent yesterday only, then 700 spent seven days ago only
    today = utc_day(NOW)
    # when / then: yesterday weighs 7 of 28, the seventh day back 1 of 28
    assert burn_rate({today - DAY: 700}, today) == 175
    assert burn_rate({today - 7 * DAY: 700}, today) == 25
    assert burn_rate({today - 8 * DAY: 700}, today) == 0


@given(
    available=st.integers(min_value=-(10**9), max_value=10**9),
    spend=SPEND_DAYS,
    planned=st.lists(commitments(), max_size=6),
)
def test_never_negative(available: int, spend: dict[date, int], planned: list[Commitment]) -> None:
    result = runway(available, spend, planned, NOW)
    assert result.burn_per_day >= 0
    assert result.days_left is None or result.days_left >= 0
    assert result.runs_out_at is None or result.runs_out_at >= NOW
    assert result.shortfall >= 0
    assert result.shortfall_at is None or result.shortfall_at >= NOW
    assert (result.shortfall_at is None) == (result.shortfall == 0)


def _simulated_shortfall_day(available: int, planned: list[Commitment]) -> tuple[date | None, int]:
    """Day by day (UTC): each campaign takes its budget's share of the day's hours of its
    flight (all of it on its first day when its flight is empty); the first day after
    which the balance is below zero."""
    balance = Fraction(available)
    first = None
    day = utc_day(NOW)
    last = max([utc_day(c.ends) for c in planned] + [day])
    while day <= last:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        balance -= sum((_share(c, max(start, NOW), start + DAY) for c in planned), Fraction(0))
        if first is None and balance < 0:
            first = day
        day += DAY
    return first, max(-int(balance), 0) if balance < 0 else 0


def _share(c: Commitment, start: datetime, end: datetime) -> Fraction:
    if c.ends <= c.starts:
        return Fraction(c.amount) if start <= c.starts < end else Fraction(0)
    overlap = min(end, c.ends) - max(start, c.starts)
    if overlap <= timedelta(0):
        return Fraction(0)
    return (
        Fraction(c.amount)
        * Fraction(overlap / timedelta(seconds=1))
        / Fraction((c.ends - c.starts) / timedelta(seconds=1))
    )


@given(available=st.integers(min_value=0, max_value=5 * 10**7), planned=st.lists(commitments()))
def test_shortfall_day_matches_a_day_by_day_simulation(
    available: int, planned: list[Commitment]
) -> None:
    # given campaigns that may still take their remaining budgets over their flights
    # when
    found = committed_shortfall(available, planned, NOW)
    # then
    day, missing = _simulated_shortfall_day(available, planned)
    assert (None if found.at is None else utc_day(found.at)) == day
    assert found.amount == missing


def test_given_a_worked_example_when_shortfall_then_the_instant_it_runs_short() -> None:
    # given 300.00 available; a campaign with 1,000.00 left over 10 days from now
    planned = [Commitment(100_000, NOW, NOW + 10 * DAY)]
    # when
    found = committed_shortfall(30_000, planned, NOW)
    # then: 100.00 a day runs past 300.00 after 3 days; 700.00 is missing
    assert found.at == NOW + 3 * DAY
    assert found.amount == 70_000


def test_given_a_campaign_waiting_for_funds_when_shortfall_then_now() -> None:
    planned = [remaining(5_000, NOW - DAY, NOW - DAY, NOW)]
    assert committed_shortfall(4_999, planned, NOW).at == NOW
    assert committed_shortfall(5_000, planned, NOW).at is None
