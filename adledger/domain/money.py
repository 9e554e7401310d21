"""Money as integer minor units with a currency; parsing and formatting of decimal strings.

Floats never appear: the API speaks decimal strings and everything below it integers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Re-exported: money is where the rest of the code looks for them.
from adledger.domain.currency import Currency as Currency
from adledger.domain.currency import format_minor as format_minor
from adledger.domain.currency import format_money as format_money
from adledger.domain.errors import CurrencyMismatch, InvalidInput

# Largest amount a single operation may carry: far below BIGINT so that sums of many
# such amounts on one balance cannot overflow the column.
MAX_MINOR_UNITS = 10**15

# The whole grammar of an amount: ASCII digits (`\d`, str.isdigit() and int() also take
# Arabic-Indic or fullwidth digits, "\u0661\u0660\u0660", "\uff11\uff10"), then an optional
# '.' with at least one digit after it; a leading '-' only where a negative amount is
# allowed. Nothing else: no spaces around it, no '+', no '_', no exponent, no bare '.'.
_DECIMAL_RE = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
_MAX_AMOUNT_TEXT = 40


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


def parse_amount(
    raw: object, currency: Currency, field: tuple[str, ...] = (), *, signed: bool = False
) -> Money:
    """Parse a decimal string (or an int) into Money, refusing anything inexact.

    The text is taken as sent: " 1.00 " is not an amount (a client that pads it has a bug
    we should tell it about, not hide). A sign is refused unless `signed`: no input of the
    API takes a negative amount, and "-0.00" is not a way to write zero there.
    Floats are refused because by the time one reaches us its decimal digits are gone.
    """
    text = _as_text(raw, field)
    match = _DECIMAL_RE.fullmatch(text)
    if match is None:
        raise InvalidInput(
            f"{text!r} is not a decimal amount: digits, optionally a '.' and up to "
            f"{currency.exponent} decimals, nothing around them",
            field,
        )
    sign, whole, fraction = match.groups()
    if sign and not signed:
        raise InvalidInput("amount may not be negative: send it without a sign", field)
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
    # Bounded before any work on it (str() of a huge int, a regex over a huge text).
    too_long = (
        abs(raw) >= 10**_MAX_AMOUNT_TEXT if isinstance(raw, int) else len(raw) > _MAX_AMOUNT_TEXT
    )
    if too_long:
        raise InvalidInput("amount is larger than the platform accepts", field)
    return str(raw)
