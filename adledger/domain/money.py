"""Money as integer minor units with a currency; parsing and formatting of decimal strings.

Floats never appear: the API speaks decimal strings and everything below it integers.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from adledger.domain.errors import CurrencyMismatch, InvalidInput

# Largest amount a single operation may carry: far below BIGINT so that sums of many
# such amounts on one balance cannot overflow the column.
MAX_MINOR_UNITS = 10**15

# ASCII digits only: `\d`, str.isdigit() and int() also take Arabic-Indic or fullwidth
# digits ("\u0661\u0660\u0660", "\uff11\uff10") as numbers.
_DECIMAL_RE = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
_MAX_AMOUNT_TEXT = 40


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


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: Currency

    @classmethod
    def zero(cls, currency: Currency) -> Money:
        return cls(0, currency)

    def __add__(self, other: Money) -> Money:
        self._check_same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check_same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def _check_same(self, other: Money) -> None:
        if other.currency is not self.currency:
            raise CurrencyMismatch(expected=self.currency.value)

    def to_decimal_string(self) -> str:
        return format_minor(self.minor, self.currency)


def format_minor(minor: int, currency: Currency) -> str:
    """Exact decimal string for an amount in minor units: 123456 USD -> "1234.56"."""
    exponent = currency.exponent
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor))
    if exponent == 0:
        return sign + digits
    digits = digits.rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


def parse_amount(raw: object, currency: Currency, field: tuple[str, ...] = ()) -> Money:
    """Parse a decimal string (or an int) into Money, refusing anything inexact.

    Floats are refused because by the time one reaches us its decimal digits are gone.
    """
    text = _as_text(raw, field)
    match = _DECIMAL_RE.fullmatch(text)
    if match is None:
        raise InvalidInput(f"{text!r} is not a decimal amount", field)
    sign, whole, fraction = match.groups()
    fraction = fraction or ""
    if len(fraction) > currency.exponent:
        raise InvalidInput(
            f"{currency.value} amounts have at most {currency.exponent} decimals", field
        )
    minor = int(whole + fraction.ljust(currency.exponent, "0"))
    if minor > MAX_MINOR_UNITS:
        raise InvalidInput("amount is larger than the platform accepts", field)
    return Money(-minor if sign else minor, currency)


def parse_positive_amount(raw: object, currency: Currency, field: tuple[str, ...] = ()) -> Money:
    money = parse_amount(raw, currency, field)
    if money.minor <= 0:
        raise InvalidInput("amount must be greater than zero", field)
    return money


def _as_text(raw: object, field: tuple[str, ...]) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InvalidInput('amounts are sent as decimal strings, e.g. "10.00"', field)
    # Bounded before any work on it (str() of a huge int, strip() of a huge text).
    too_long = (
        abs(raw) >= 10**_MAX_AMOUNT_TEXT
        if isinstance(raw, int)
        else len(raw) > 2 * _MAX_AMOUNT_TEXT
    )
    text = "" if too_long else str(raw).strip()
    if too_long or len(text) > _MAX_AMOUNT_TEXT:
        raise InvalidInput("amount is larger than the platform accepts", field)
    return text
