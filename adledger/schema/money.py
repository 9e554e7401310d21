from __future__ import annotations

import strawberry

from adledger.domain.money import Currency, format_minor
from adledger.schema.enums import CurrencyCode
from adledger.schema.input_plans import planned
from adledger.schema.scalars import DecimalText


@strawberry.type
class Money:
    amount: DecimalText
    currency_code: CurrencyCode

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        code = Currency(currency)
        return cls(amount=format_minor(minor, code), currency_code=code)


@planned
@strawberry.input
class MoneyInput:
    amount: DecimalText
    currency_code: CurrencyCode
