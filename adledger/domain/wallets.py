"""Wallets as pure vocabulary (DESIGN §4, §7): their buckets, the credit line's billing
cycle, and money as a client sends it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from adledger.domain.money import Currency


class Bucket(enum.StrEnum):
    CASH = "CASH"
    VOUCHERS = "VOUCHERS"
    CREDIT_LINE = "CREDIT_LINE"


class CreditLineCycle(enum.StrEnum):
    TWENTY_EIGHT_DAYS = "TWENTY_EIGHT_DAYS"
    CALENDAR_MONTH = "CALENDAR_MONTH"


@dataclass(frozen=True, slots=True)
class MoneyIn:
    """A MoneyInput as sent: the amount still unparsed so its errors can name the field."""

    amount: object
    currency: Currency
