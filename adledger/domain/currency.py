"""Currencies and how amounts of them are written: a leaf of the domain (errors.py writes
amounts in its messages, money.py raises those errors)."""

from __future__ import annotations

import enum


class Currency(enum.StrEnum):
    USD = "USD"
    EUR = "EUR"
    GBP = "GBP"
    CAD = "CAD"
    AUD = "AUD"
    CHF = "CHF"
    JPY = "JPY"
    KWD = "KWD"

    @property
    def exponent(self) -> int:
        return _EXPONENTS.get(self, 2)


_EXPONENTS = {Currency.JPY: 0, Currency.KWD: 3}


def format_minor(minor: int, currency: Currency) -> str:
    """Exact decimal string for an amount in minor units: 123456 USD -> "1234.56"."""
    exponent = currency.exponent
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor))
    if exponent == 0:
        return sign + digits
    digits = digits.rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


def format_money(minor: int, currency: Currency | str) -> str:
    """An amount as messages write it, grouped by thousands: 211566 USD -> "2,115.66 USD".
    Every amount in a message a person reads goes through here (never "minor units")."""
    code = Currency(currency)
    whole, _, fraction = format_minor(minor, code).partition(".")
    sign, digits = ("-", whole[1:]) if whole.startswith("-") else ("", whole)
    grouped = f"{int(digits):,}"
    return f"{sign}{grouped}{'.' + fraction if fraction else ''} {code.value}"
