"""Automatic recharge as pure rules (issue 27): a wallet's rule as a member sets it, and
what it charges when the wallet's available balance falls below its threshold."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from adledger.domain.currency import format_money
from adledger.domain.errors import InvalidInput
from adledger.domain.money import Money

MAX_FAILED_CHARGES = 3
"""A recharge whose charge failed this many times is voided and its rule SUSPENDED."""


class RuleStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    """After MAX_FAILED_CHARGES failed charges in a row, until a member sets it again."""
    DISABLED = "DISABLED"
    """Turned off by a member (disableAutoRecharge)."""


@dataclass(frozen=True, slots=True)
class RuleAsk:
    """What the member asked for, amounts parsed and in the wallet's currency."""

    threshold: Money
    amount: Money | None
    target: Money | None
    monthly_cap: Money | None


def check_rule(ask: RuleAsk, minimum: Money) -> None:
    """Exactly one of amount and target; a target above the threshold; the least a
    recharge charges (the amount, or target minus threshold) at least the minimum top-up;
    a monthly cap that allows at least that one recharge. INVALID_INPUT names the field."""
    if ask.amount is not None and ask.target is not None:
        raise InvalidInput("give either amount or targetBalance, not both", ("input", "amount"))
    if ask.amount is None and ask.target is None:
        raise InvalidInput("give either amount or targetBalance", ("input", "amount"))
    if ask.target is not None and ask.target.minor <= ask.threshold.minor:
        raise InvalidInput(
            "targetBalance must be above the threshold", ("input", "targetBalance", "amount")
        )
    least, field = least_charge(ask)
    if least < minimum.minor:
        shown = format_money(minimum.minor, minimum.currency.value)
        what = "amount" if ask.amount is not None else "targetBalance minus threshold"
        raise InvalidInput(f"{what} must be at least the minimum top-up, {shown}", field)
    if ask.monthly_cap is not None and ask.monthly_cap.minor < least:
        raise InvalidInput(
            "monthlyCap must allow at least one recharge "
            f"({format_money(least, ask.threshold.currency.value)})",
            ("input", "monthlyCap", "amount"),
        )


def least_charge(ask: RuleAsk) -> tuple[int, tuple[str, ...]]:
    """The least one recharge charges, and the field it comes from."""
    if ask.amount is not None:
        return ask.amount.minor, ("input", "amount", "amount")
    if ask.target is None:
        raise InvalidInput("give either amount or targetBalance", ("input", "amount"))
    return ask.target.minor - ask.threshold.minor, ("input", "targetBalance", "amount")


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule's numbers, in the wallet's minor units."""

    threshold: int
    amount: int | None
    target: int | None
    monthly_cap: int | None


@dataclass(frozen=True, slots=True)
class Charge:
    amount: int
    """What to charge now; 0: nothing (see `capped`)."""
    capped: bool = False
    """The monthly cap left less than the minimum top-up: nothing is charged this month."""


def charge_for(rule: Rule, available: int, recharged_this_month: int, minimum: int) -> Charge:
    """The recharge for a wallet whose available balance fell below the threshold: the
    fixed amount, or what brings it back to the target, cut to what the monthly cap
    leaves; less than the provider's minimum left under the cap is no charge at all."""
    wanted = rule.amount if rule.amount is not None else (rule.target or 0) - available
    if rule.monthly_cap is None:
        return Charge(wanted)
    left = max(rule.monthly_cap - recharged_this_month, 0)
    if left >= wanted:
        return Charge(wanted)
    return Charge(left if left >= minimum else 0, capped=left < minimum)


def recharged_in(month: date, rule_month: date | None, recharged_this_month: int) -> int:
    """What the rule recharged in `month` (its count starts again each UTC month)."""
    return recharged_this_month if rule_month == month else 0
