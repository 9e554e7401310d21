"""Wallets as pure vocabulary (DESIGN §4, §7): their buckets, the credit line's billing
cycle, and money as a client sends it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from adledger.domain.ledger import WALLET_BUCKETS, AccountKind
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


BALANCE_KINDS = (*WALLET_BUCKETS, AccountKind.HOLD)
"""The account kinds a wallet's balance reads (`available`, `Wallet.balance`): its buckets
and its campaigns' holds (a campaign's other accounts under the wallet never count)."""


def available(sums: Mapping[str, int], credit_limit: int) -> int:
    """What a wallet can spend now (DESIGN §4): cash + vouchers + (credit limit - used) -
    held, from its ledger accounts' balances summed per kind (a campaign's hold is cash
    set aside: the cash bucket does not hold it). `Wallet.balance.available`, the alerts
    and the runway all read it here."""
    cash = sums.get(AccountKind.CASH.value, 0)
    vouchers = sums.get(AccountKind.VOUCHERS.value, 0)
    used = -sums.get(AccountKind.CREDIT_LINE.value, 0)
    return cash + vouchers + credit_limit - used
