"""Payment schedules (the Adomni page): parts sum to the price exactly, the count follows
the rules, every part but the last is equal, the dates are an interval apart."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.errors import InvalidInput
from adledger.domain.money import Currency
from adledger.domain.schedules import (
    CardPlan,
    CycleKind,
    PlanSettlement,
    card_schedule,
    cycle_at,
    flight_days,
    settle_plan,
    split_evenly,
)
from adledger.services.config import in_currency

LAUNCH = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
THRESHOLD = {c: in_currency("250.00", c).minor for c in Currency}

currencies = st.sampled_from(list(Currency))
prices = st.integers(min_value=1, max_value=10**12)
flight_lengths = st.integers(min_value=1, max_value=365 * 24 * 60).map(
    lambda minutes: timedelta(minutes=minutes)
)
lead_times = st.integers(min_value=-30 * 24, max_value=60 * 24).map(
    lambda hours: timedelta(hours=hours)
)


@given(currencies, prices, flight_lengths, lead_times)
def test_installments_follow_the_rules(
    currency: Currency, price: int, length: timedelta, lead: timedelta
) -> None:
    # given a flight starting `lead` after the launch (before it, when negative)
    starts_at = LAUNCH + lead
    flight = (starts_at, starts_at + length)
    threshold = THRESHOLD[currency]
    # when the schedule is made at launch
    schedule = card_schedule(CardPlan.INSTALLMENTS, price, threshold, flight, LAUNCH)
    parts = [i.amount for i in schedule.installments]
    dates = [i.issue_on for i in schedule.installments]
    # then the parts sum to the price, all but the last equal, none below one unit
    assert sum(parts) == price
    assert len(set(parts[:-1])) <= 1
    assert parts[-1] >= parts[0] >= 1
    # and the count follows the price and the flight
    days = math.ceil(length / timedelta(days=1))
    interval = 7 if days < 28 else 14
    expected = 1 if price < threshold else min(math.ceil(days / interval), price)
    assert schedule.count == expected
    assert [i.number for i in schedule.installments] == list(range(1, expected + 1))
    # and the first is issued at launch, each later one an interval after the one before,
    # the second an interval after the flight starts (or the launch, if later)
    assert dates[0] == LAUNCH
    if expected > 1:
        step = timedelta(days=interval)
        assert schedule.interval == step
        assert dates[1] == max(starts_at, LAUNCH) + step
        assert all(later - earlier == step for earlier, later in pairwise(dates[1:]))
        assert dates[-1] < max(starts_at, LAUNCH) + length


@given(currencies, prices, flight_lengths)
def test_prepay_is_one_invoice_for_the_whole_price(
    currency: Currency, price: int, length: timedelta
) -> None:
    flight = (LAUNCH, LAUNCH + length)
    schedule = card_schedule(CardPlan.PREPAY, price, THRESHOLD[currency], flight, LAUNCH)
    assert [(i.number, i.amount, i.issue_on) for i in schedule.installments] == [(1, price, LAUNCH)]


@given(st.integers(min_value=1, max_value=10**15), st.integers(min_value=1, max_value=1000))
def test_even_split_is_exact(price: int, count: int) -> None:
    parts = split_evenly(price, count)
    assert len(parts) == count
    assert sum(parts) == price
    assert len(set(parts[:-1])) <= 1
    assert 0 <= parts[-1] - parts[0] < count


@pytest.mark.parametrize(
    ("currency", "price", "days", "parts"),
    [
        # 1,000.00 over 30 days: every 14 days, ceil(30 / 14) = 3 invoices
        (Currency.USD, 100000, 30, [33333, 33333, 33334]),
        # 20 days: every 7 days, 3 invoices
        (Currency.JPY, 100000, 20, [33333, 33333, 33334]),
        (Currency.KWD, 1000000, 28, [500000, 500000]),
        # under 250.00: one invoice at launch, whatever the flight
        (Currency.USD, 24999, 90, [24999]),
        (Currency.JPY, 249, 90, [249]),
        # exactly the threshold is split
        (Currency.EUR, 25000, 14, [12500, 12500]),
    ],
)
def test_seed_examples(currency: Currency, price: int, days: int, parts: list[int]) -> None:
    flight = (LAUNCH, LAUNCH + timedelta(days=days))
    schedule = card_schedule(CardPlan.INSTALLMENTS, price, THRESHOLD[currency], flight, LAUNCH)
    assert [i.amount for i in schedule.installments] == parts


def test_a_partial_day_counts_as_a_day() -> None:
    assert flight_days(LAUNCH, LAUNCH + timedelta(days=27, minutes=1)) == 28
    with pytest.raises(InvalidInput):
        flight_days(LAUNCH, LAUNCH)


@given(st.integers(min_value=0, max_value=5000).map(lambda h: LAUNCH + timedelta(hours=h)))
def test_cycles_hold_the_instant_and_follow_each_other(at: datetime) -> None:
    for kind in CycleKind:
        cycle = cycle_at(kind, LAUNCH, at)
        assert at in cycle
        assert cycle_at(kind, LAUNCH, cycle.end).start == cycle.end
    assert cycle_at(CycleKind.TWENTY_EIGHT_DAYS, LAUNCH, at).end - cycle_at(
        CycleKind.TWENTY_EIGHT_DAYS, LAUNCH, at
    ).start == timedelta(days=28)
    month = cycle_at(CycleKind.CALENDAR_MONTH, LAUNCH, at)
    assert (month.start.day, month.start.hour) == (1, 0)


@given(
    st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=30),
    st.data(),
)
def test_settling_a_plan_bills_exactly_what_was_delivered(
    parts: list[int], paid_count: int, data: st.DataObject
) -> None:
    # given a plan whose first invoices are paid and a spend within paid + owed
    paid_count = min(paid_count, len(parts))
    paid, unpaid = sum(parts[:paid_count]), parts[paid_count:]
    spent = data.draw(st.integers(min_value=0, max_value=sum(parts)))
    # when it is settled
    settled = settle_plan(paid, spent, unpaid)
    # then paid + still due - credit is the spend, no invoice grows, and the kept ones
    # come first (a voided invoice is never followed by one still due)
    assert paid + sum(settled.amounts_due) - settled.credit == spent
    assert all(0 <= due <= amount for due, amount in zip(settled.amounts_due, unpaid, strict=True))
    kept = [due > 0 for due in settled.amounts_due]
    assert kept == sorted(kept, reverse=True)
    assert settled.credit == max(paid - spent, 0)


def test_the_seed_scenarios_of_an_under_spent_plan() -> None:
    # three invoices of 100.00, the first paid, 150.00 delivered: the second is billed
    # for 50.00, the third voided
    assert settle_plan(10000, 15000, [10000, 10000]) == PlanSettlement((5000, 0), 0)
    # one invoice left, 60.00 of the 100.00 paid delivered: it is voided and 40.00 credited
    assert settle_plan(10000, 6000, [10000]) == PlanSettlement((0,), 4000)
    with pytest.raises(InvalidInput):
        settle_plan(10000, 30001, [10000, 10000])
