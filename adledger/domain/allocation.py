"""Business-center balance and automatic allocation (DESIGN §7) as pure rules: who may
switch, and how spend is drawn bucket by bucket as it happens."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from adledger.domain.ad_accounts import AdAccountType, BillingOption
from adledger.domain.errors import AllocationModeIrreversible, AllocationNotEligible


class AllocationMode(enum.StrEnum):
    MANUAL = "MANUAL"
    AUTOMATIC = "AUTOMATIC"


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What decides whether one ad account lets its center switch."""

    name: str
    billing_option: str
    account_type: str
    funded_campaigns: int = 0
    """Campaigns holding money taken from its balance (launched, not yet settled)."""


def check_switch(mode: AllocationMode, accounts: Iterable[AccountFacts]) -> None:
    """ALLOCATION_MODE_IRREVERSIBLE once switched; ALLOCATION_NOT_ELIGIBLE with one line per
    blocking account and reason."""
    if mode is AllocationMode.AUTOMATIC:
        raise AllocationModeIrreversible()
    lines = [line for account in accounts for line in blockers(account)]
    if lines:
        raise AllocationNotEligible(blockers=tuple(lines))


def blockers(account: AccountFacts) -> list[str]:
    found = []
    if account.billing_option != BillingOption.MONTHLY_INVOICING:
        found.append(
            f"{account.name}: billing option is {account.billing_option}, not MONTHLY_INVOICING"
        )
    if account.account_type != AdAccountType.AUCTION:
        found.append(f"{account.name}: account type is {account.account_type}, not AUCTION")
    if account.funded_campaigns:
        found.append(
            f"{account.name}: {account.funded_campaigns} campaign(s) still hold money from its "
            "balance; let them end or cancel them first"
        )
    return found


@dataclass(slots=True)
class Drawable:
    """What spend may draw, in order: the account's cash, its vouchers, the center's cash,
    the center's credit line (limit minus used). The center's vouchers are never drawn."""

    account_cash: int
    account_vouchers: int
    center_cash: int
    center_credit: int

    @property
    def total(self) -> int:
        return self.account_cash + self.account_vouchers + self.center_cash + self.center_credit


@dataclass(slots=True)
class Drawn:
    """What spend took from each bucket."""

    account_cash: int = 0
    account_vouchers: int = 0
    center_cash: int = 0
    center_credit: int = 0

    @property
    def total(self) -> int:
        return self.account_cash + self.account_vouchers + self.center_cash + self.center_credit

    def add(self, other: Drawn) -> None:
        self.account_cash += other.account_cash
        self.account_vouchers += other.account_vouchers
        self.center_cash += other.center_cash
        self.center_credit += other.center_credit


def draw_spend(amount: int, pools: Drawable) -> Drawn:
    """Take up to `amount` from the pools in order, lowering them; less when they run out."""
    taken = Drawn()
    left = amount
    for name in _ORDER:
        part = min(left, max(getattr(pools, name), 0))
        setattr(pools, name, getattr(pools, name) - part)
        setattr(taken, name, part)
        left -= part
    return taken


_ORDER = ("account_cash", "account_vouchers", "center_cash", "center_credit")


@dataclass(slots=True)
class CenterPool:
    """A center's drawable money within one spend batch: its own cash and credit line,
    shared by all its accounts, and each account's own cash and vouchers."""

    cash: int
    credit: int
    accounts: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Per ad account: (cash, vouchers) still drawable."""

    def draw(self, account_id: int, amount: int) -> Drawn:
        cash, vouchers = self.accounts[account_id]
        pools = Drawable(cash, vouchers, self.cash, self.credit)
        taken = draw_spend(amount, pools)
        self.accounts[account_id] = (pools.account_cash, pools.account_vouchers)
        self.cash, self.credit = pools.center_cash, pools.center_credit
        return taken

    def drawable(self, account_id: int) -> int:
        cash, vouchers = self.accounts.get(account_id, (0, 0))
        return cash + vouchers + self.cash + self.credit

    def draw_on_line(self, amount: int) -> Drawn:
        """A campaign paid on the credit line takes from the credit line only."""
        taken = min(amount, max(self.credit, 0))
        self.credit -= taken
        return Drawn(center_credit=taken)

    @property
    def line_left(self) -> int:
        return max(self.credit, 0)
