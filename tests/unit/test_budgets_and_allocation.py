"""The pure rules of account budget caps and automatic allocation: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.allocation import (
    AccountFacts,
    AllocationMode,
    CenterPool,
    Drawable,
    check_switch,
    draw_spend,
)
from adledger.domain.budgets import (
    BudgetMode,
    BudgetSetting,
    Period,
    StopReason,
    blocked_by,
    changes_remaining,
    check_cap,
    check_change_allowed,
    checked_setting,
    current_period,
    day_of,
    month_of,
    period_of,
    remaining,
    synced,
)
from adledger.domain.errors import (
    AllocationModeIrreversible,
    AllocationNotEligible,
    BudgetBelowMinimum,
    BudgetChangeLimitReached,
    InvalidInput,
)

NOW = datetime(2026, 2, 14, 15, 30, tzinfo=UTC)
amounts = st.integers(min_value=0, max_value=10**12)


# -- periods -------------------------------------------------------------------------------


def test_a_daily_period_is_the_utc_day_and_a_monthly_one_the_calendar_month() -> None:
    assert day_of(NOW) == Period(
        datetime(2026, 2, 14, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC)
    )
    assert month_of(NOW) == Period(
        datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert month_of(datetime(2028, 12, 31, 23, 59, tzinfo=UTC)).end == datetime(
        2029, 1, 1, tzinfo=UTC
    )


def test_an_unlimited_budget_counts_the_month_and_caps_nothing() -> None:
    setting = BudgetSetting(BudgetMode.UNLIMITED)
    assert period_of(setting, NOW) == month_of(NOW)
    assert remaining(setting, 10**9, NOW) is None


def test_a_repeating_period_rolls_over_to_zero_and_a_custom_one_never_does() -> None:
    daily = BudgetSetting(BudgetMode.DAILY, 500)
    yesterday = day_of(NOW - timedelta(days=1))
    assert current_period(daily, yesterday, 500, NOW) == (day_of(NOW), 0)
    assert current_period(daily, day_of(NOW), 120, NOW) == (day_of(NOW), 120)
    custom = BudgetSetting(BudgetMode.CUSTOM, 500, NOW - timedelta(days=9), NOW - timedelta(days=2))
    ended = Period(NOW - timedelta(days=9), NOW - timedelta(days=2))
    assert current_period(custom, ended, 300, NOW) == (ended, 300)


def test_a_custom_budget_allows_nothing_outside_its_dates() -> None:
    custom = BudgetSetting(BudgetMode.CUSTOM, 500, NOW + timedelta(days=1), NOW + timedelta(days=3))
    assert remaining(custom, 0, NOW) == 0
    assert remaining(custom, 100, NOW + timedelta(days=2)) == 400
    assert remaining(custom, 0, NOW + timedelta(days=3)) == 0


@given(amount=amounts, spent=amounts)
def test_what_remains_is_never_negative_and_never_more_than_the_cap(amount, spent) -> None:
    left = remaining(BudgetSetting(BudgetMode.MONTHLY, amount), spent, NOW)
    assert left is not None and 0 <= left <= amount
    assert left == max(amount - spent, 0)


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "amount", "start", "end", "field"),
    [
        (BudgetMode.UNLIMITED, 100, None, None, "amount"),
        (BudgetMode.DAILY, None, None, None, "amount"),
        (BudgetMode.DAILY, 100, NOW, None, "periodStart"),
        (BudgetMode.MONTHLY, 100, None, NOW + timedelta(days=1), "periodEnd"),
        (BudgetMode.CUSTOM, 100, None, NOW + timedelta(days=1), "periodStart"),
        (BudgetMode.CUSTOM, 100, NOW + timedelta(days=2), NOW + timedelta(days=1), "periodEnd"),
        (BudgetMode.CUSTOM, 100, NOW - timedelta(days=2), NOW - timedelta(days=1), "periodEnd"),
        (BudgetMode.CUSTOM, 100, NOW, NOW + timedelta(days=367), "periodEnd"),
        (BudgetMode.CUSTOM, 100, NOW.replace(tzinfo=None), NOW + timedelta(days=1), "periodStart"),
    ],
)
def test_a_setting_that_cannot_be_is_invalid_input_naming_its_field(
    mode, amount, start, end, field
) -> None:
    with pytest.raises(InvalidInput) as raised:
        checked_setting(mode, amount, start, end, NOW)
    assert raised.value.field == ("input", field)


def test_a_valid_custom_setting_keeps_its_dates() -> None:
    start, end = NOW + timedelta(days=1), NOW + timedelta(days=8)
    assert checked_setting(BudgetMode.CUSTOM, 0, start, end, NOW) == BudgetSetting(
        BudgetMode.CUSTOM, 0, start, end
    )


def test_ten_changes_a_day_and_no_more() -> None:
    for done in range(10):
        check_change_allowed(done)
        assert changes_remaining(done) == 10 - done
    with pytest.raises(BudgetChangeLimitReached) as raised:
        check_change_allowed(10)
    assert raised.value.limit_per_day == 10
    assert changes_remaining(12) == 0


def test_a_cap_below_the_periods_spend_is_refused_with_that_spend_as_minimum() -> None:
    check_cap(BudgetSetting(BudgetMode.DAILY, 500), 500, "USD")
    with pytest.raises(BudgetBelowMinimum) as raised:
        check_cap(BudgetSetting(BudgetMode.DAILY, 499), 500, "USD")
    assert (raised.value.minimum_minor, raised.value.field) == (500, ("input", "amount", "amount"))


def test_budget_sync_caps_only_an_account_without_a_cap() -> None:
    assert synced(BudgetSetting(BudgetMode.UNLIMITED), 10000) == BudgetSetting(
        BudgetMode.MONTHLY, 10000
    )
    assert synced(BudgetSetting(BudgetMode.DAILY, 700), 10000) is None


def test_a_campaign_is_blocked_first_by_its_budget_then_its_account_then_the_money() -> None:
    assert blocked_by(100, 100, 0, 0) is StopReason.CAMPAIGN_BUDGET_REACHED
    assert blocked_by(50, 100, 0, 0) is StopReason.ACCOUNT_BUDGET_REACHED
    assert blocked_by(50, 100, None, 0) is StopReason.BUSINESS_CENTER_BALANCE_EXHAUSTED
    assert blocked_by(50, 100, 10, None) is None
    assert StopReason.BUSINESS_CENTER_BALANCE_EXHAUSTED.text == "business center balance exhausted"


# -- the switch ----------------------------------------------------------------------------


def test_the_switch_names_every_blocking_account_and_reason() -> None:
    accounts = [
        AccountFacts("A", "MONTHLY_INVOICING", "AUCTION"),
        AccountFacts("B", "PREPAID", "RESERVATION"),
        AccountFacts("C", "MONTHLY_INVOICING", "AUCTION", funded_campaigns=2),
    ]
    with pytest.raises(AllocationNotEligible) as raised:
        check_switch(AllocationMode.MANUAL, accounts)
    assert raised.value.blockers == (
        "B: billing option is PREPAID, not MONTHLY_INVOICING",
        "B: account type is RESERVATION, not AUCTION",
        "C: 2 campaign(s) still hold money from its balance; let them end or cancel them first",
    )
    check_switch(AllocationMode.MANUAL, accounts[:1])
    check_switch(AllocationMode.MANUAL, [])


def test_a_second_switch_is_irreversible_whatever_the_accounts() -> None:
    with pytest.raises(AllocationModeIrreversible):
        check_switch(AllocationMode.AUTOMATIC, [])


# -- drawing spend -------------------------------------------------------------------------


def test_spend_is_drawn_cash_vouchers_center_cash_then_credit_line() -> None:
    pools = Drawable(10, 20, 30, 40)
    taken = draw_spend(65, pools)
    assert (taken.account_cash, taken.account_vouchers, taken.center_cash, taken.center_credit) == (10, 20, 30, 5)  # fmt: skip
    assert (pools.total, draw_spend(100, pools).total, pools.total) == (35, 35, 0)


@given(amount=amounts, buckets=st.tuples(amounts, amounts, amounts, amounts))
def test_a_draw_never_takes_more_than_asked_or_there_and_keeps_every_cent(amount, buckets) -> None:
    pools = Drawable(*buckets)
    before = pools.total
    taken = draw_spend(amount, pools)
    assert taken.total == min(amount, before)
    assert taken.total + pools.total == before
    assert (
        min(pools.account_cash, pools.account_vouchers, pools.center_cash, pools.center_credit) >= 0
    )


@given(
    cash=amounts,
    credit=amounts,
    own=st.lists(st.tuples(amounts, amounts), min_size=1, max_size=6),
    asks=st.lists(st.tuples(st.integers(0, 5), amounts), max_size=30),
)
def test_accounts_sharing_a_center_never_draw_it_below_zero(cash, credit, own, asks) -> None:
    pool = CenterPool(cash, credit, {n: pair for n, pair in enumerate(own)})
    before = cash + credit + sum(c + v for c, v in own)
    drawn = 0
    for account, amount in asks:
        drawn += pool.draw(account % len(own), amount).total
    after = pool.cash + pool.credit + sum(c + v for c, v in pool.accounts.values())
    assert drawn + after == before
    assert min(pool.cash, pool.credit, *(x for pair in pool.accounts.values() for x in pair)) >= 0
