"""Top-ups, invoices and plan subscriptions as pure rules (DESIGN §5, §9)."""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import datetime

from adledger.domain.errors import AmountBelowMinimum, InvalidInput, TargetAlreadyCovered
from adledger.domain.money import Currency, Money


class InvoiceKind(enum.StrEnum):
    TOP_UP = "TOP_UP"
    CAMPAIGN_SHORTFALL = "CAMPAIGN_SHORTFALL"
    INSTALLMENT = "INSTALLMENT"
    CREDIT_LINE_CYCLE = "CREDIT_LINE_CYCLE"
    SUBSCRIPTION = "SUBSCRIPTION"
    AUTO_RECHARGE = "AUTO_RECHARGE"
    """Charged to the center's saved card when a wallet falls below its recharge rule's
    threshold (services/auto_recharge.py)."""


class InvoiceStatus(enum.StrEnum):
    SCHEDULED = "SCHEDULED"
    OPEN = "OPEN"
    PAID = "PAID"
    VOID = "VOID"


class TopUpStatus(enum.StrEnum):
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    PAID = "PAID"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class Plan(enum.StrEnum):
    STARTER = "STARTER"
    PRO = "PRO"


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    CANCELS_AT_PERIOD_END = "CANCELS_AT_PERIOD_END"
    INACTIVE = "INACTIVE"

    @property
    def allows_top_ups(self) -> bool:
        """A lapsed subscription blocks top-ups and launches, never the balance itself."""
        return self is not SubscriptionStatus.INACTIVE


# Stripe refuses charges below these (its documented minimum charge amounts); our own
# configured minimum is raised to them, never lowered.
PROVIDER_MINIMUM_MINOR = {
    Currency.USD: 50,
    Currency.EUR: 50,
    Currency.GBP: 30,
    Currency.CAD: 50,
    Currency.AUD: 50,
    Currency.CHF: 50,
    Currency.JPY: 50,
    Currency.KWD: 200,
}


def format_invoice_number(year: int, sequence: int) -> str:
    return f"INV-{year}-{sequence:06d}"


def minimum_top_up(configured: Money) -> Money:
    floor = PROVIDER_MINIMUM_MINOR[configured.currency]
    return Money(max(configured.minor, floor), configured.currency)


@dataclass(frozen=True, slots=True)
class TopUpAsk:
    """What the customer asked for: exactly one of an amount or a target balance."""

    amount: Money | None
    target: Money | None


def top_up_amount(ask: TopUpAsk, cash: Money, pending: Money, minimum: Money) -> Money:
    """What the invoice asks for. For a target: the difference to cash plus top-ups already
    on their way, so two target top-ups in a row never fund the same gap twice."""
    if (ask.amount is None) == (ask.target is None):
        raise InvalidInput("give either amount or targetBalance", ("input",))
    if ask.target is not None:
        covered = cash + pending
        amount = ask.target - covered
        if amount.minor <= 0:
            raise TargetAlreadyCovered(
                covered_minor=covered.minor,
                currency=covered.currency.value,
                field=("input", "targetBalance"),
            )
        field = ("input", "targetBalance", "amount")
    else:
        assert ask.amount is not None
        amount, field = ask.amount, ("input", "amount", "amount")
    if amount.minor < minimum.minor:
        raise AmountBelowMinimum(
            minimum_minor=minimum.minor, currency=minimum.currency.value, field=field
        )
    return amount


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` later, clamped to the month's last day (Jan 31 -> Feb 28)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
