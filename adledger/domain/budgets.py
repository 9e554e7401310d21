"""Ad account budget caps (DESIGN §7, both allocation modes) as pure rules: what a cap
setting may be, the period it counts spend over, what remains of it, and why a campaign
stopped. The clock is always an argument."""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adledger.domain.errors import BudgetBelowMinimum, BudgetChangeLimitReached, InvalidInput
from adledger.domain.instants import utc_instant
from adledger.domain.money import format_money

MAX_CHANGES_PER_DAY = 10
MAX_CUSTOM_PERIOD = timedelta(days=366)


class BudgetMode(enum.StrEnum):
    UNLIMITED = "UNLIMITED"
    DAILY = "DAILY"
    MONTHLY = "MONTHLY"
    CUSTOM = "CUSTOM"


class ChangeSource(enum.StrEnum):
    USER = "USER"
    """Counts toward the daily limit."""
    BUDGET_SYNC = "BUDGET_SYNC"
    """Made by the switch to automatic allocation; does not count."""


class StopReason(enum.StrEnum):
    """Why a campaign is BUDGET_EXHAUSTED."""

    CAMPAIGN_BUDGET_REACHED = "CAMPAIGN_BUDGET_REACHED"
    ACCOUNT_BUDGET_REACHED = "ACCOUNT_BUDGET_REACHED"
    BUSINESS_CENTER_BALANCE_EXHAUSTED = "BUSINESS_CENTER_BALANCE_EXHAUSTED"

    @property
    def text(self) -> str:
        return _STOP_TEXT[self]


_STOP_TEXT = {
    StopReason.CAMPAIGN_BUDGET_REACHED: "campaign budget reached",
    StopReason.ACCOUNT_BUDGET_REACHED: "account budget reached",
    StopReason.BUSINESS_CENTER_BALANCE_EXHAUSTED: "business center balance exhausted",
}


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class BudgetSetting:
    mode: BudgetMode
    amount: int | None = None
    """None exactly when mode is UNLIMITED."""
    period_start: datetime | None = None
    """Given for CUSTOM only."""
    period_end: datetime | None = None


UNLIMITED = BudgetSetting(BudgetMode.UNLIMITED)


def setting_from(
    mode: str, amount: int | None, start: datetime | None, end: datetime | None
) -> BudgetSetting:
    """A stored cap: its dates mean something for CUSTOM only (the others keep their
    current period there)."""
    budget_mode = BudgetMode(mode)
    if budget_mode is BudgetMode.CUSTOM:
        return BudgetSetting(budget_mode, amount, start, end)
    return BudgetSetting(budget_mode, amount)


def day_of(moment: datetime) -> Period:
    start = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Period(start, start + timedelta(days=1))


def month_of(moment: datetime) -> Period:
    start = day_of(moment).start.replace(day=1)
    days = calendar.monthrange(start.year, start.month)[1]
    return Period(start, start + timedelta(days=days))


def period_of(setting: BudgetSetting, now: datetime) -> Period:
    """The period whose spend the cap counts at `now`. UNLIMITED counts the calendar month,
    so that a cap set later starts from what the month already spent."""
    if setting.mode is BudgetMode.DAILY:
        return day_of(now)
    if setting.mode is BudgetMode.CUSTOM:
        assert setting.period_start is not None and setting.period_end is not None
        return Period(setting.period_start, setting.period_end)
    return month_of(now)


def rolls_over(setting: BudgetSetting, current: Period, now: datetime) -> Period | None:
    """The new period when `current` has ended and the mode repeats; a CUSTOM period
    never rolls over."""
    if setting.mode is BudgetMode.CUSTOM or now < current.end:
        return None
    return period_of(setting, now)


def remaining(setting: BudgetSetting, spent: int, now: datetime) -> int | None:
    """What may still be spent now; None when nothing caps it. Outside its dates a CUSTOM
    budget allows nothing: it is a one-time cap over the dates it names."""
    if setting.amount is None:
        return None
    if setting.mode is BudgetMode.CUSTOM and not period_of(setting, now).holds(now):
        return 0
    return max(setting.amount - spent, 0)


def checked_setting(
    mode: BudgetMode,
    amount: int | None,
    period_start: datetime | None,
    period_end: datetime | None,
    now: datetime,
) -> BudgetSetting:
    """The setting asked for, or INVALID_INPUT naming the field at fault."""
    if mode is BudgetMode.UNLIMITED:
        if amount is not None:
            raise InvalidInput("an UNLIMITED budget has no amount", ("input", "amount"))
    elif amount is None:
        raise InvalidInput(f"a {mode.value} budget needs an amount", ("input", "amount"))
    if mode is BudgetMode.CUSTOM:
        period_start, period_end = _checked_dates(period_start, period_end, now)
    elif period_start is not None or period_end is not None:
        field = "periodStart" if period_start is not None else "periodEnd"
        raise InvalidInput(f"only a CUSTOM budget takes dates, not {mode.value}", ("input", field))
    return BudgetSetting(mode, amount, period_start, period_end)


def _checked_dates(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The CUSTOM period in UTC, or INVALID_INPUT naming the date at fault."""
    if start is None or end is None:
        field = "periodStart" if start is None else "periodEnd"
        raise InvalidInput("a CUSTOM budget needs periodStart and periodEnd", ("input", field))
    start = utc_instant(start, ("input", "periodStart"))
    end = utc_instant(end, ("input", "periodEnd"))
    if end <= start:
        raise InvalidInput("periodEnd must be after periodStart", ("input", "periodEnd"))
    if end <= now:
        raise InvalidInput("periodEnd must be in the future", ("input", "periodEnd"))
    if end - start > MAX_CUSTOM_PERIOD:
        raise InvalidInput("a CUSTOM budget spans at most 366 days", ("input", "periodEnd"))
    return start, end


def check_change_allowed(changes_today: int) -> None:
    if changes_today >= MAX_CHANGES_PER_DAY:
        raise BudgetChangeLimitReached(limit_per_day=MAX_CHANGES_PER_DAY)


def changes_remaining(changes_today: int) -> int:
    return max(MAX_CHANGES_PER_DAY - changes_today, 0)


def check_cap(setting: BudgetSetting, spent_in_period: int, currency: str) -> None:
    """A new cap is never below what its period has already spent."""
    if setting.amount is not None and setting.amount < spent_in_period:
        lowest = format_money(spent_in_period, currency)
        raise BudgetBelowMinimum(
            message=f"the budget may not be below what this period spent: {lowest}",
            minimum_minor=spent_in_period,
            currency=currency,
            field=("input", "amount", "amount"),
        )


def synced(setting: BudgetSetting, moved: int) -> BudgetSetting | None:
    """Budget Sync: an account with no cap gets a MONTHLY cap of the cash it just moved to
    the business center; an account with a cap keeps it."""
    if setting.mode is not BudgetMode.UNLIMITED:
        return None
    return BudgetSetting(BudgetMode.MONTHLY, moved)


def current_period(
    setting: BudgetSetting, stored: Period | None, spent: int, now: datetime
) -> tuple[Period, int]:
    """The account's counting period at `now` and its spend: a repeating period that has
    ended starts again from zero."""
    period = stored or period_of(setting, now)
    rolled = rolls_over(setting, period, now)
    return (rolled, 0) if rolled is not None else (period, spent)


@dataclass(frozen=True, slots=True)
class CapState:
    """An account's cap as spend sees it at one instant."""

    setting: BudgetSetting
    period: Period
    spent: int
    left: int | None
    """None when nothing caps it."""


def cap_state(
    mode: str,
    amount: int | None,
    period_start: datetime | None,
    period_end: datetime | None,
    spent: int,
    now: datetime,
) -> CapState:
    """From a stored cap and its counter (the period it counted, what it counted): the
    period holding `now`, what it has spent and what is left."""
    setting = setting_from(mode, amount, period_start, period_end)
    stored = (
        None if period_start is None or period_end is None else Period(period_start, period_end)
    )
    period, counted = current_period(setting, stored, spent, now)
    return CapState(setting, period, counted, remaining(setting, counted, now))


def blocked_by(
    spent: int, budget: int, account_left: int | None, drawable: int | None
) -> StopReason | None:
    """What keeps a campaign from delivering, first reason first: its own budget, its
    account's cap, then (when it draws on the business center) the money it may draw."""
    if spent >= budget:
        return StopReason.CAMPAIGN_BUDGET_REACHED
    if account_left is not None and account_left <= 0:
        return StopReason.ACCOUNT_BUDGET_REACHED
    if drawable is not None and drawable <= 0:
        return StopReason.BUSINESS_CENTER_BALANCE_EXHAUSTED
    return None
