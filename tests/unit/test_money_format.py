"""Amounts as messages write them: thousands grouped, the currency's decimals, its code."""

from __future__ import annotations

import pytest

from adledger.domain.money import Currency, format_money


@pytest.mark.parametrize(
    ("minor", "currency", "written"),
    [
        (211566, Currency.USD, "2,115.66 USD"),
        (0, Currency.EUR, "0.00 EUR"),
        (5, Currency.USD, "0.05 USD"),
        (-123456789, Currency.GBP, "-1,234,567.89 GBP"),
        (1234567, Currency.JPY, "1,234,567 JPY"),
        (1234567, Currency.KWD, "1,234.567 KWD"),
    ],
)
def test_an_amount_is_written_grouped_with_its_currency(minor, currency, written) -> None:
    assert format_money(minor, currency) == written
    assert format_money(minor, currency.value) == written
