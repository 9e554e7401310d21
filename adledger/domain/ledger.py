"""Double-entry rules: an operation is a list of moves; each move becomes two postings
that cancel out, so every entry sums to zero by construction."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from adledger.domain.errors import InsufficientFunds, InvalidInput


class AccountKind(enum.StrEnum):
    CASH = "cash"
    VOUCHERS = "vouchers"
    CREDIT_LINE = "credit_line"
    RESERVE = "reserve"
    VOUCHER_RESERVE = "voucher_reserve"
    HOLD = "hold"
    PAYMENTS_CLEARING = "payments_clearing"
    REVENUE = "revenue"
    VOUCHER_ISSUANCE = "voucher_issuance"
    CREDIT_LINE_ISSUANCE = "credit_line_issuance"
    REFUNDS_CLEARING = "refunds_clearing"
    FORFEITED = "forfeited"
    RECEIVABLE = "receivable"
    """Per campaign paid by installments: minus what its invoices still owe."""

    @property
    def is_platform(self) -> bool:
        return self in PLATFORM_KINDS

    @property
    def is_wallet_bucket(self) -> bool:
        return self in WALLET_BUCKETS


WALLET_BUCKETS = (AccountKind.CASH, AccountKind.VOUCHERS, AccountKind.CREDIT_LINE)
CAMPAIGN_KINDS = (
    AccountKind.RESERVE,
    AccountKind.VOUCHER_RESERVE,
    AccountKind.HOLD,
    AccountKind.RECEIVABLE,
)
PLATFORM_KINDS = (
    AccountKind.PAYMENTS_CLEARING,
    AccountKind.REVENUE,
    AccountKind.VOUCHER_ISSUANCE,
    AccountKind.CREDIT_LINE_ISSUANCE,
    AccountKind.REFUNDS_CLEARING,
    AccountKind.FORFEITED,
)


class TransactionKind(enum.StrEnum):
    """What a posting on a wallet bucket means to the customer (WalletTransactionKind)."""

    TOP_UP = "TOP_UP"
    CAMPAIGN_LAUNCH = "CAMPAIGN_LAUNCH"
    BUDGET_INCREASE = "BUDGET_INCREASE"
    BUDGET_REDUCTION_CREDIT = "BUDGET_REDUCTION_CREDIT"
    UNDERDELIVERY_CREDIT = "UNDERDELIVERY_CREDIT"
    PAUSED_CAMPAIGN_CREDIT = "PAUSED_CAMPAIGN_CREDIT"
    CANCELLATION_CREDIT = "CANCELLATION_CREDIT"
    MAKEGOOD_CREDIT = "MAKEGOOD_CREDIT"
    SPEND = "SPEND"
    ALLOCATION_IN = "ALLOCATION_IN"
    ALLOCATION_OUT = "ALLOCATION_OUT"
    VOUCHER_GRANT = "VOUCHER_GRANT"
    SUBSCRIPTION_PAYMENT = "SUBSCRIPTION_PAYMENT"
    REFUND = "REFUND"
    ADJUSTMENT = "ADJUSTMENT"
    # A paid credit-line statement gives back to the line what it paid for spend.
    CREDIT_LINE_REPAYMENT = "CREDIT_LINE_REPAYMENT"
    INSTALLMENT_PAYMENT = "INSTALLMENT_PAYMENT"
    """A card payment settling part of what a campaign's plan owes."""
    SUBSCRIPTION_REFUND = "SUBSCRIPTION_REFUND"
    """An inactive plan period refunded to the balance it was paid from."""
    REFUND_RETURNED = "REFUND_RETURNED"
    """A refund declined by staff, or failed at the provider: the money is back in cash."""
    PLAN_ADJUSTMENT = "PLAN_ADJUSTMENT"
    """An invoice of a card plan reduced or voided: the campaign owes (and holds) less."""


@dataclass(frozen=True, slots=True)
class Move:
    """Move `amount` minor units from one ledger account to another."""

    source: int
    destination: int
    amount: int
    kind: TransactionKind
    destination_kind: TransactionKind | None = None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise InvalidInput("a move carries a positive amount")
        if self.source == self.destination:
            raise InvalidInput("a move needs two different accounts")


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: int
    amount: int
    kind: TransactionKind


@dataclass(frozen=True, slots=True)
class AccountState:
    kind: AccountKind
    balance: int
    currency: str
    credit_limit: int = 0

    @classmethod
    def platform(cls, kind: AccountKind, currency: str) -> AccountState:
        """A platform account's state: no floor, and no balance kept (its postings are)."""
        assert kind.is_platform
        return cls(kind=kind, balance=0, currency=currency)

    @property
    def floor(self) -> int | None:
        """Lowest balance allowed; None for platform accounts, which may go negative, and
        for a campaign's receivable, which is minus what its invoices owe (verify-ledger
        checks it against them)."""
        if self.kind.is_platform or self.kind is AccountKind.RECEIVABLE:
            return None
        if self.kind is AccountKind.CREDIT_LINE:
            return -self.credit_limit
        return 0


def postings_for(moves: Iterable[Move]) -> list[Posting]:
    postings: list[Posting] = []
    for move in moves:
        postings.append(Posting(move.source, -move.amount, move.kind))
        postings.append(Posting(move.destination, move.amount, move.destination_kind or move.kind))
    return postings


@dataclass(frozen=True, slots=True)
class AppliedEntry:
    balances: dict[int, int]
    """Final balance of every touched account."""
    balances_after: list[int]
    """The account's balance right after each posting, in posting order."""


def apply_postings(
    accounts: Mapping[int, AccountState], postings: Iterable[Posting]
) -> AppliedEntry:
    """Run postings over the accounts; refuses to take a customer bucket below its floor.

    Floors are checked after the whole entry so an account both credited and debited
    in one entry is judged on its net result.
    """
    _check_single_currency(accounts)
    balances = {account_id: state.balance for account_id, state in accounts.items()}
    after: list[int] = []
    for posting in postings:
        balances[posting.account_id] += posting.amount
        after.append(balances[posting.account_id])
    for account_id, balance in balances.items():
        _check_floor(accounts[account_id], balance)
    return AppliedEntry(balances, after)


def _check_single_currency(accounts: Mapping[int, AccountState]) -> None:
    if len({state.currency for state in accounts.values()}) > 1:
        raise InvalidInput("an entry moves money in one currency only")


def _check_floor(state: AccountState, balance: int) -> None:
    floor = state.floor
    if floor is not None and balance < floor:
        raise InsufficientFunds(available_minor=state.balance - floor, currency=state.currency)
