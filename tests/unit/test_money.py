from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.errors import CurrencyMismatch, InvalidInput
from adledger.domain.money import (
    MAX_MINOR_UNITS,
    Currency,
    Money,
    format_minor,
    parse_amount,
    parse_positive_amount,
)

currencies = st.sampled_from(list(Currency))
minor_units = st.integers(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS)


@given(minor=minor_units, currency=currencies)
def test_format_then_parse_gives_back_the_same_minor_units(minor: int, currency: Currency) -> None:
    assert parse_amount(format_minor(minor, currency), currency) == Money(minor, currency)


@given(minor=minor_units, currency=currencies)
def test_formatted_amount_has_exactly_the_currency_decimals(minor: int, currency: Currency) -> None:
    text = format_minor(minor, currency)
    decimals = len(text.partition(".")[2])
    assert decimals == currency.exponent


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1000.00", Currency.USD, 100000),
        ("0.5", Currency.EUR, 50),
        ("7", Currency.GBP, 700),
        ("1500", Currency.JPY, 1500),
        ("1.234", Currency.KWD, 1234),
        ("-3.10", Currency.USD, -310),
    ],
)
def test_parses_decimal_strings_exactly(text: str, currency: Currency, minor: int) -> None:
    assert parse_amount(text, currency).minor == minor


@pytest.mark.parametrize(
    ("raw", "currency", "message"),
    [
        ("1.001", Currency.USD, "at most 2 decimals"),
        ("1.5", Currency.JPY, "at most 0 decimals"),
        ("1.0001", Currency.KWD, "at most 3 decimals"),
        ("abc", Currency.USD, "not a decimal amount"),
        ("1e3", Currency.USD, "not a decimal amount"),
        ("", Currency.USD, "not a decimal amount"),
        ("NaN", Currency.USD, "not a decimal amount"),
        ("9" * 30, Currency.USD, "larger than the platform accepts"),
        ("9" * 60, Currency.USD, "larger than the platform accepts"),
        (10.5, Currency.USD, "decimal strings"),
        (None, Currency.USD, "decimal strings"),
        (True, Currency.USD, "decimal strings"),
    ],
)
def test_refuses_inexact_or_malformed_amounts(
    raw: object, currency: Currency, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_amount(raw, currency, ("input", "amount"))
    assert caught.value.field == ("input", "amount")


@pytest.mark.parametrize("raw", ["0", "0.00", "-1.00"])
def test_positive_amounts_refuse_zero_and_negative(raw: str) -> None:
    with pytest.raises(InvalidInput, match="greater than zero"):
        parse_positive_amount(raw, Currency.USD)


@given(a=minor_units, b=minor_units, currency=currencies)
def test_addition_and_subtraction_are_exact(a: int, b: int, currency: Currency) -> None:
    assert (Money(a, currency) + Money(b, currency)) - Money(b, currency) == Money(a, currency)


def test_money_of_two_currencies_never_mix() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(100, Currency.USD) + Money(100, Currency.EUR)
