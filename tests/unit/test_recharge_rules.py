"""Automatic recharge's pure rules (domain/recharge.py): what a rule may be, what it
charges below its threshold."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.errors import InvalidInput
from adledger.domain.money import Currency, Money
from adledger.domain.recharge import Charge, Rule, RuleAsk, charge_for, check_rule, recharged_in

USD = Currency.USD
MINIMUM = Money(1000, USD)


def _usd(minor: int | None) -> Money | None:
    return None if minor is None else Money(minor, USD)


def _ask(threshold: int, amount: int | None, target: int | None, cap: int | None) -> RuleAsk:
    return RuleAsk(_usd(threshold), _usd(amount), _usd(target), _usd(cap))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("threshold", "amount", "target", "cap", "field"),
    [
        (20000, 30000, 60000, None, ("input", "amount")),
        (20000, None, None, None, ("input", "amount")),
        (20000, None, 20000, None, ("input", "targetBalance", "amount")),
        (20000, 999, None, None, ("input", "amount", "amount")),
        (20000, None, 20999, None, ("input", "targetBalance", "amount")),
        (20000, 30000, None, 29999, ("input", "monthlyCap", "amount")),
        (20000, None, 60000, 39999, ("input", "monthlyCap", "amount")),
    ],
)
def test_a_bad_rule_is_refused_naming_its_field(threshold, amount, target, cap, field) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_rule(_ask(threshold, amount, target, cap), MINIMUM)
    assert refused.value.field == field


def test_good_rules_pass() -> None:
    check_rule(_ask(20000, 1000, None, 1000), MINIMUM)
    check_rule(_ask(20000, None, 21000, None), MINIMUM)


def test_a_fixed_amount_a_target_and_the_cap() -> None:
    fixed = Rule(20000, 30000, None, 40000)
    target = Rule(20000, None, 60000, None)

    assert charge_for(fixed, 15000, 0, 50) == Charge(30000)
    assert charge_for(fixed, 15000, 30000, 50) == Charge(10000)
    assert charge_for(fixed, 15000, 39970, 50) == Charge(0, capped=True)
    assert charge_for(fixed, 15000, 40000, 50) == Charge(0, capped=True)
    assert charge_for(target, 15000, 10**9, 50) == Charge(45000)


@given(
    available=st.integers(-(10**9), 19999),
    recharged=st.integers(0, 10**9),
    cap=st.none() | st.integers(1, 10**9),
)
def test_a_charge_never_passes_the_cap_nor_falls_below_the_minimum(
    available: int, recharged: int, cap: int | None
) -> None:
    charge = charge_for(Rule(20000, None, 60000, cap), available, recharged, 50)

    assert charge.amount == 0 or charge.amount >= 50
    if cap is not None:
        assert recharged + charge.amount <= max(cap, recharged)
    assert charge.capped == (charge.amount == 0)


def test_what_was_recharged_counts_in_its_utc_month_only() -> None:
    assert recharged_in(date(2027, 1, 1), date(2027, 1, 1), 300) == 300
    assert recharged_in(date(2027, 2, 1), date(2027, 1, 1), 300) == 0
    assert recharged_in(date(2027, 2, 1), None, 0) == 0
