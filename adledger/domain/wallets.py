"""Wallets as pure vocabulary (DESIGN §4, §7): their buckets, the credit line's billing
cycle, and money as a client sends it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from adledger.domain.ledger import AccountKind
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


def available_balance(sums: dict[str, int], credit_limit: int) -> int:
    """What a wallet can spend now (the API's `WalletBalance.available`): its cash beyond
    what is held for campaigns, its vouchers and what its credit line has left. `sums` is
    the balance of each of its account kinds (store.wallets.balances_by_wallet)."""
    cash = sums.get(AccountKind.CASH.value, 0)
    vouchers = sums.get(AccountKind.VOUCHERS.value, 0)
    credit_left = credit_limit + sums.get(AccountKind.CREDIT_LINE.value, 0)
    return cash + vouchers + credit_left
