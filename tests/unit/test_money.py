from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import assume, given
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
    text = format_minor(minor, currency)
    assert parse_amount(text, currency, signed=True) == Money(minor, currency)


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
        ("0012.5", Currency.USD, 1250),
        (7, Currency.USD, 700),
    ],
)
def test_parses_decimal_strings_exactly(text: object, currency: Currency, minor: int) -> None:
    assert parse_amount(text, currency).minor == minor


def test_a_leading_minus_is_taken_only_where_negative_amounts_are_allowed() -> None:
    assert parse_amount("-3.10", Currency.USD, signed=True).minor == -310
    for refused in ("-3.10", "-0.00", -5):
        with pytest.raises(InvalidInput, match="may not be negative") as caught:
            parse_amount(refused, Currency.USD, ("input", "amount", "amount"))
        assert caught.value.field == ("input", "amount", "amount")


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


@pytest.mark.parametrize(
    ("raw", "message"),
    [("0", "greater than zero"), ("0.00", "greater than zero"), ("-1.00", "may not be negative")],
)
def test_positive_amounts_refuse_zero_and_negative(raw: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_positive_amount(raw, Currency.USD)


# The strict grammar ------------------------------------------------------------------


def strict_amounts(currency: Currency, *, signed: bool) -> st.SearchStrategy[str]:
    """Texts the grammar accepts for the currency (digits, then "." and 1..N digits), below
    the largest amount the platform takes."""
    sign = "-?" if signed else ""
    fraction = rf"(\.[0-9]{{1,{currency.exponent}}})?" if currency.exponent else ""
    return st.from_regex(rf"{sign}[0-9]{{1,12}}{fraction}", fullmatch=True)


@given(data=st.data(), currency=currencies, signed=st.booleans())
def test_any_text_the_grammar_accepts_parses_to_its_exact_value(
    data: st.DataObject, currency: Currency, signed: bool
) -> None:
    text = data.draw(strict_amounts(currency, signed=signed))

    money = parse_amount(text, currency, signed=signed)

    assert money == Money(int(Decimal(text).scaleb(currency.exponent)), currency)
    assert parse_amount(money.to_decimal_string(), currency, signed=True) == money


def _grammar(currency: Currency) -> re.Pattern[str]:
    fraction = rf"(\.[0-9]{{1,{currency.exponent}}})?" if currency.exponent else ""
    return re.compile(rf"[0-9]+{fraction}")


@st.composite
def near_misses(draw: st.DrawFn, currency: Currency) -> str:
    """A valid amount with one thing the grammar refuses put into it."""
    text = draw(strict_amounts(currency, signed=False))
    intruder = draw(st.sampled_from([" ", "\t", "\n", "\u00a0", "+", "_", "e", "E", ".", ",",
                                     "-", "\u2212", "\uff11", "x", "\x00"]))  # fmt: skip
    at = draw(st.integers(0, len(text)))
    return text[:at] + intruder + text[at:]


@given(data=st.data(), currency=currencies)
def test_anything_else_is_invalid_input_naming_the_field(
    data: st.DataObject, currency: Currency
) -> None:
    text = data.draw(near_misses(currency) | st.text(max_size=30))
    assume(_grammar(currency).fullmatch(text) is None)
    field = ("input", "events", "0", "amount", "amount")

    with pytest.raises(InvalidInput) as caught:
        parse_amount(text, currency, field)

    assert caught.value.field == field


@pytest.mark.parametrize(
    "text",
    [" 1.00 ", " 1.00", "1.00 ", "\t1.00", "1.00\n", "+1.00", "1_000.00", "1e3", "1E3",
     "1.5e1", ".50", "1.", "-", ".", "", "1.0.0", "0x10", "1,00", "\u22121.00", "--1", "- 1"],
)  # fmt: skip
def test_weak_amounts_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(text, Currency.USD, ("input", "amount", "amount"), signed=True)
    assert caught.value.field == ("input", "amount", "amount")


@given(a=minor_units, b=minor_units, currency=currencies)
def test_addition_and_subtraction_are_exact(a: int, b: int, currency: Currency) -> None:
    assert (Money(a, currency) + Money(b, currency)) - Money(b, currency) == Money(a, currency)


def test_money_of_two_currencies_never_mix() -> None:
    with pytest.raises(CurrencyMismatch):
        Money(100, Currency.USD) + Money(100, Currency.EUR)
