"""The campaign rules of `domain/campaigns.py`, without a database: the state machine, the
flight and budget checks, and how money is drawn, spent, given back and settled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.campaigns import (
    Action,
    CampaignStatus,
    Delivery,
    Flight,
    Interval,
    Reserve,
    Settlement,
    SpendClock,
    SpendRefusal,
    SpendTarget,
    check_budget,
    check_new_flight,
    check_raise,
    clean_name,
    closed_interval,
    draw,
    give_back,
    minimum_budget,
    settle,
    spend_refusal,
    take_from_reserve,
    transition,
)
from adledger.domain.errors import BudgetBelowMinimum, InvalidInput, InvalidState

S = CampaignStatus
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
LATER = Flight(NOW + timedelta(days=1), NOW + timedelta(days=30))  # startsAt ahead
RUNNING = Flight(NOW - timedelta(days=1), NOW + timedelta(days=30))  # startsAt past

# Written out from the issue, not read from the code: (action, from) → target, where
# "running" means SCHEDULED before startsAt and ACTIVE from it.
ALLOWED: dict[Action, dict[CampaignStatus, CampaignStatus | str]] = {
    Action.LAUNCH: {S.DRAFT: "running"},
    Action.FUND: {S.PENDING_FUNDS: "running"},
    Action.START: {S.SCHEDULED: "running"},
    Action.PAUSE: {S.SCHEDULED: S.PAUSED, S.ACTIVE: S.PAUSED},
    Action.RESUME: {S.PAUSED: "running"},
    Action.CANCEL: {
        s: S.CANCELED
        for s in (S.DRAFT, S.PENDING_FUNDS, S.SCHEDULED, S.ACTIVE, S.PAUSED, S.BUDGET_EXHAUSTED)
    },
    Action.REJECT: {
        s: S.REJECTED
        for s in (S.PENDING_FUNDS, S.SCHEDULED, S.ACTIVE, S.PAUSED, S.BUDGET_EXHAUSTED)
    },
    Action.EXHAUST: {S.ACTIVE: S.BUDGET_EXHAUSTED},
    Action.COMPLETE: {s: S.COMPLETED for s in (S.SCHEDULED, S.ACTIVE, S.PAUSED)},
    Action.EXPIRE: {S.PENDING_FUNDS: S.CANCELED},
    Action.CHANGE_BUDGET: {
        s: s for s in (S.DRAFT, S.SCHEDULED, S.ACTIVE, S.PAUSED, S.BUDGET_EXHAUSTED)
    },
}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("status", list(CampaignStatus))
@pytest.mark.parametrize("flight", [LATER, RUNNING], ids=["before-start", "after-start"])
def test_every_transition_is_allowed_or_names_the_status(
    status: CampaignStatus, action: Action, flight: Flight
) -> None:
    expected = ALLOWED[action].get(status)
    if expected is None:
        with pytest.raises(InvalidState) as refused:
            transition(status, action, flight, NOW)
        assert refused.value.message == f"cannot {action.value} a campaign that is {status}"
        return
    if expected == "running":
        expected = S.SCHEDULED if flight is LATER else S.ACTIVE
    assert transition(status, action, flight, NOW) == expected


@pytest.mark.parametrize(
    ("starts", "ends", "field", "message"),
    [
        (NOW, NOW + timedelta(days=1, hours=0), None, None),
        (NOW - timedelta(days=3), NOW + timedelta(days=362), None, None),  # 365 days
        (NOW, NOW, "endsAt", "endsAt must be after startsAt"),
        (
            NOW - timedelta(days=2),
            NOW - timedelta(days=1),
            "endsAt",
            "endsAt must be in the future",
        ),
        (NOW, NOW + timedelta(days=365, seconds=1), "endsAt", "a flight lasts at most 365 days"),
        (
            NOW.replace(tzinfo=None),
            NOW + timedelta(days=1),
            "startsAt",
            "startsAt needs a UTC offset",
        ),
        (
            NOW,
            (NOW + timedelta(days=1)).replace(tzinfo=None),
            "endsAt",
            "endsAt needs a UTC offset",
        ),
    ],
)
def test_a_new_flight(starts: datetime, ends: datetime, field: str | None, message: str) -> None:
    if field is None:
        check_new_flight(Flight(starts, ends), NOW)
        return
    with pytest.raises(InvalidInput) as refused:
        check_new_flight(Flight(starts, ends), NOW)
    assert (refused.value.message, refused.value.field) == (message, ("input", field))


@pytest.mark.parametrize("status", [S.SCHEDULED, S.ACTIVE, S.PAUSED, S.BUDGET_EXHAUSTED])
def test_a_budget_is_raised_only_while_the_flight_lasts(status: CampaignStatus) -> None:
    ended = Flight(NOW - timedelta(days=9), NOW)
    check_raise(status, RUNNING, NOW)
    check_raise(S.DRAFT, ended, NOW)
    with pytest.raises(InvalidState, match=f"a campaign that is {status}: its flight has ended"):
        check_raise(status, ended, NOW)


def test_names_are_trimmed_and_bounded() -> None:
    assert clean_name("  Spring \n sale ") == "Spring sale"
    for bad in ("   ", "x" * 201):
        with pytest.raises(InvalidInput) as refused:
            clean_name(bad)
        assert refused.value.field == ("input", "name")


def test_the_minimum_budget_is_the_platform_minimum_or_the_spend_to_date() -> None:
    assert (minimum_budget(5000, 1200), minimum_budget(5000, 12000)) == (5000, 12000)
    check_budget(5000, 5000, "USD", ("input", "budget"))
    with pytest.raises(BudgetBelowMinimum) as refused:
        check_budget(4999, 5000, "USD", ("input", "budget", "amount"))
    assert (refused.value.minimum_minor, refused.value.currency) == (5000, "USD")
    assert refused.value.message == "the budget may not be below 50.00 USD"


HOUR = timedelta(hours=1)
CLOCK = SpendClock(NOW, timedelta(hours=12), timedelta(minutes=5))
LAUNCHED = NOW - 20 * HOUR
# Delivered from its launch 20 h ago until a pause 10 h ago, and again since a resume 2 h ago.
RESUMED = Delivery(NOW - 2 * HOUR, (Interval(LAUNCHED, NOW - 10 * HOUR),))
ENDED = Flight(NOW - timedelta(days=2), NOW - 11 * HOUR)
SETTLED_BY_NOW = Flight(NOW - timedelta(days=2), NOW - 13 * HOUR)


@pytest.mark.parametrize(
    ("target", "occurred", "refusal"),
    [
        (SpendTarget(RUNNING, RESUMED, False), NOW, None),
        (SpendTarget(RUNNING, RESUMED, False), NOW + timedelta(minutes=5), None),  # clock skew
        (SpendTarget(RUNNING, RESUMED, False), NOW + timedelta(minutes=5, microseconds=1), "IN_THE_FUTURE"),
        (SpendTarget(RUNNING, RESUMED, False), NOW - 2 * HOUR, None),  # the resume itself
        (SpendTarget(RUNNING, RESUMED, False), NOW - 10 * HOUR, None),  # the pause itself
        (SpendTarget(RUNNING, RESUMED, False), NOW - 5 * HOUR, "CAMPAIGN_NOT_DELIVERING"),  # paused
        (SpendTarget(RUNNING, RESUMED, False), LAUNCHED - HOUR, "CAMPAIGN_NOT_DELIVERING"),  # before the launch
        (SpendTarget(RUNNING, RESUMED, False), RUNNING.starts_at - HOUR, "OUTSIDE_FLIGHT"),
        (SpendTarget(RUNNING, RESUMED, False), datetime(1900, 1, 1, tzinfo=UTC), "OUTSIDE_FLIGHT"),
        (SpendTarget(LATER, Delivery(NOW), False), NOW, "OUTSIDE_FLIGHT"),  # SCHEDULED: from startsAt
        (SpendTarget(LATER, Delivery(NOW), False), LATER.starts_at, "IN_THE_FUTURE"),
        (SpendTarget(RUNNING, Delivery(None), False), NOW, "CAMPAIGN_NOT_DELIVERING"),  # not funded
        (SpendTarget(ENDED, Delivery(None, (Interval(LAUNCHED, NOW),)), False), ENDED.ends_at, None),  # within the 12 h window
        (SpendTarget(ENDED, Delivery(None, (Interval(LAUNCHED, NOW),)), False), ENDED.ends_at + HOUR, "OUTSIDE_FLIGHT"),
        (SpendTarget(SETTLED_BY_NOW, Delivery(None, (Interval(LAUNCHED, NOW),)), False), NOW - 14 * HOUR, "SETTLEMENT_WINDOW_CLOSED"),
        (SpendTarget(RUNNING, RESUMED, True), NOW, "SETTLEMENT_WINDOW_CLOSED"),
        # the order: the future first, then the window, the flight, the delivery
        (SpendTarget(SETTLED_BY_NOW, Delivery(None), True), NOW + timedelta(days=1), "IN_THE_FUTURE"),
        (SpendTarget(SETTLED_BY_NOW, Delivery(None), True), datetime(1900, 1, 1, tzinfo=UTC), "SETTLEMENT_WINDOW_CLOSED"),
        (SpendTarget(RUNNING, Delivery(None), False), RUNNING.starts_at - HOUR, "OUTSIDE_FLIGHT"),
    ],
)  # fmt: skip
def test_why_spend_is_refused(target: SpendTarget, occurred: datetime, refusal: str | None) -> None:
    found = spend_refusal(target, occurred, CLOCK)
    assert found == (None if refusal is None else SpendRefusal(refusal))


def test_an_interval_closed_by_a_clock_behind_its_opening_is_empty_not_negative() -> None:
    assert closed_interval(NOW, NOW - HOUR) == Interval(NOW, NOW)
    assert closed_interval(NOW - HOUR, NOW) == Interval(NOW - HOUR, NOW)


amounts = st.integers(min_value=0, max_value=10**12)


@given(need=amounts, vouchers=amounts, cash=amounts)
def test_a_draw_takes_vouchers_first_and_never_more_than_there_is(
    need: int, vouchers: int, cash: int
) -> None:
    taken = draw(need, vouchers, cash)
    assert taken.total + taken.short == need
    assert 0 <= taken.vouchers <= vouchers and 0 <= taken.cash <= cash
    assert taken.cash == 0 or taken.vouchers == vouchers  # cash only once vouchers are gone
    assert taken.short == max(0, need - vouchers - cash)


@given(cash=amounts, vouchers=amounts, data=st.data())
def test_spend_takes_voucher_money_first_and_returns_give_cash_first(
    cash: int, vouchers: int, data: st.DataObject
) -> None:
    reserve = Reserve(cash, vouchers)
    amount = data.draw(st.integers(min_value=0, max_value=reserve.total))
    spent, back = take_from_reserve(reserve, amount), give_back(reserve, amount)
    assert spent.total == back.total == amount
    assert 0 <= spent.vouchers <= vouchers and 0 <= spent.cash <= cash
    assert spent.cash == 0 or spent.vouchers == vouchers
    assert 0 <= back.cash <= cash and 0 <= back.vouchers <= vouchers
    assert back.vouchers == 0 or back.cash == cash


@given(unspent=amounts, minimum=st.integers(min_value=0, max_value=10**4))
def test_a_settlement_credits_or_forfeits_the_whole_rest(unspent: int, minimum: int) -> None:
    outcome = settle(unspent, minimum)
    assert outcome.credit + outcome.forfeit == unspent
    assert outcome.credit == (unspent if unspent > minimum else 0)


def test_the_seed_examples_settle_as_the_policy_says() -> None:
    # 500.00 budget: 480.00 delivered leaves 20.00, credited; 499.40 leaves 0.60, forfeited
    assert [settle(rest, 100) for rest in (2000, 60, 100)] == [
        Settlement(2000, 0),
        Settlement(0, 60),
        Settlement(0, 100),  # 1.00 itself is not more than the minimum credit
    ]
