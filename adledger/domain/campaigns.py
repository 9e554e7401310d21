"""Campaigns paid from the credit balance (DESIGN §6) as pure rules: the state machine,
what a launch or a budget change moves, how spend is capped, how an ended campaign is
settled. Time always comes in as an argument."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from adledger.domain.errors import BudgetBelowMinimum, InvalidInput, InvalidState
from adledger.domain.instants import utc_instant
from adledger.domain.money import format_money

MAX_FLIGHT = timedelta(days=365)
MAX_NAME_LENGTH = 200


class CampaignStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    PENDING_FUNDS = "PENDING_FUNDS"
    SCHEDULED = "SCHEDULED"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"


class DeliveryType(enum.StrEnum):
    GUARANTEED = "GUARANTEED"
    IF_AVAILABLE = "IF_AVAILABLE"


class PaymentPlan(enum.StrEnum):
    CREDIT_BALANCE = "CREDIT_BALANCE"
    INSTALLMENTS = "INSTALLMENTS"
    PREPAY = "PREPAY"
    CREDIT_LINE = "CREDIT_LINE"
    BUSINESS_CENTER_BALANCE = "BUSINESS_CENTER_BALANCE"


class Action(enum.StrEnum):
    LAUNCH = "launch"
    FUND = "fund"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    REJECT = "reject"
    EXHAUST = "exhaust"
    COMPLETE = "complete"
    EXPIRE = "expire"
    CHANGE_BUDGET = "change the budget of"


S = CampaignStatus
# Launched and funded, and not over: money sits in the reserve and may still be spent.
LIVE = frozenset({S.SCHEDULED, S.ACTIVE, S.PAUSED, S.BUDGET_EXHAUSTED})
ENDED = frozenset({S.COMPLETED, S.CANCELED, S.REJECTED})

# Where each action may start from. Targets that depend on the clock are decided by
# `transition`; the rest are fixed here.
_FROM: dict[Action, frozenset[CampaignStatus]] = {
    Action.LAUNCH: frozenset({S.DRAFT}),
    Action.FUND: frozenset({S.PENDING_FUNDS}),
    Action.START: frozenset({S.SCHEDULED}),
    Action.PAUSE: frozenset({S.SCHEDULED, S.ACTIVE}),
    Action.RESUME: frozenset({S.PAUSED}),
    Action.CANCEL: frozenset({S.DRAFT, S.PENDING_FUNDS} | LIVE),
    Action.REJECT: frozenset({S.PENDING_FUNDS} | LIVE),
    Action.EXHAUST: frozenset({S.ACTIVE}),
    Action.COMPLETE: frozenset({S.SCHEDULED, S.ACTIVE, S.PAUSED}),
    Action.EXPIRE: frozenset({S.PENDING_FUNDS}),
    Action.CHANGE_BUDGET: frozenset({S.DRAFT} | LIVE),
}

_FIXED_TARGET: dict[Action, CampaignStatus] = {
    Action.PAUSE: S.PAUSED,
    Action.CANCEL: S.CANCELED,
    Action.REJECT: S.REJECTED,
    Action.EXHAUST: S.BUDGET_EXHAUSTED,
    Action.COMPLETE: S.COMPLETED,
    Action.EXPIRE: S.CANCELED,
}


@dataclass(frozen=True, slots=True)
class Flight:
    starts_at: datetime
    ends_at: datetime

    def running_status(self, now: datetime) -> CampaignStatus:
        """A funded campaign delivers from startsAt; before it, it is SCHEDULED."""
        return S.ACTIVE if now >= self.starts_at else S.SCHEDULED


def transition(
    status: CampaignStatus, action: Action, flight: Flight, now: datetime
) -> CampaignStatus:
    """The status after `action`, or INVALID_STATE naming the current status.
    LAUNCH answers the funded status; a launch left short is PENDING_FUNDS (`launched`)."""
    if status not in _FROM[action]:
        raise InvalidState(f"cannot {action.value} a campaign that is {status.value}")
    if action in _FIXED_TARGET:
        return _FIXED_TARGET[action]
    if action is Action.CHANGE_BUDGET:
        return status
    return flight.running_status(now)


def check_raise(status: CampaignStatus, flight: Flight, now: datetime) -> None:
    """More budget after the flight has ended could never be delivered, and on a settled
    campaign no sweep would ever give it back."""
    if status is not S.DRAFT and flight.ends_at <= now:
        raise InvalidState(
            f"cannot raise the budget of a campaign that is {status.value}: its flight has ended"
        )


def launched(funded: bool, flight: Flight, now: datetime) -> CampaignStatus:
    return flight.running_status(now) if funded else S.PENDING_FUNDS


def check_launchable(flight: Flight, now: datetime) -> None:
    if flight.ends_at <= now:
        raise InvalidState("the campaign's flight has already ended; change its dates first")


def check_new_flight(given: Flight, now: datetime) -> Flight:
    """The flight in UTC: endsAt after startsAt and in the future, at most a year apart. A
    startsAt already past means: deliver as soon as the campaign is launched and funded."""
    flight = Flight(
        utc_instant(given.starts_at, ("input", "startsAt")),
        utc_instant(given.ends_at, ("input", "endsAt")),
    )
    if flight.ends_at <= flight.starts_at:
        raise InvalidInput("endsAt must be after startsAt", ("input", "endsAt"))
    if flight.ends_at <= now:
        raise InvalidInput("endsAt must be in the future", ("input", "endsAt"))
    if flight.ends_at - flight.starts_at > MAX_FLIGHT:
        raise InvalidInput("a flight lasts at most 365 days", ("input", "endsAt"))
    return flight


def clean_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidInput(f"name must have 1 to {MAX_NAME_LENGTH} characters", ("input", "name"))
    return name


def minimum_budget(platform_minimum: int, spent: int) -> int:
    return max(platform_minimum, spent)


def check_budget(budget: int, minimum: int, currency: str, field: tuple[str, ...]) -> None:
    if budget < minimum:
        raise BudgetBelowMinimum(
            message=f"the budget may not be below {format_money(minimum, currency)}",
            minimum_minor=minimum,
            currency=currency,
            field=field,
        )


@dataclass(frozen=True, slots=True)
class Draw:
    """What a launch or a funding takes from the wallet: vouchers first, then cash."""

    vouchers: int
    cash: int
    short: int

    @property
    def total(self) -> int:
        return self.vouchers + self.cash


def draw(need: int, vouchers: int, cash: int) -> Draw:
    from_vouchers = min(need, max(vouchers, 0))
    from_cash = min(need - from_vouchers, max(cash, 0))
    return Draw(from_vouchers, from_cash, need - from_vouchers - from_cash)


@dataclass(frozen=True, slots=True)
class Reserve:
    """The campaign's unspent money, by the wallet bucket it came from."""

    cash: int
    vouchers: int

    @property
    def total(self) -> int:
        return self.cash + self.vouchers


def take_from_reserve(reserve: Reserve, amount: int) -> Reserve:
    """How `amount` of spend is drawn: voucher money first (the wallet gave it first)."""
    vouchers = min(amount, reserve.vouchers)
    return Reserve(amount - vouchers, vouchers)


def give_back(reserve: Reserve, amount: int) -> Reserve:
    """How `amount` returns to the wallet: cash first, so unspent voucher money keeps
    being spent first and is never turned into cash."""
    cash = min(amount, reserve.cash)
    return Reserve(cash, amount - cash)


# A campaign delivers while SCHEDULED or ACTIVE (a SCHEDULED one from its startsAt): its
# delivering intervals open when it enters one of these and close when it leaves them.
DELIVERING = frozenset({S.SCHEDULED, S.ACTIVE})


@dataclass(frozen=True, slots=True)
class Interval:
    """A closed delivering interval, both ends included."""

    opened_at: datetime
    closed_at: datetime

    def holds(self, moment: datetime) -> bool:
        return self.opened_at <= moment <= self.closed_at


def closed_interval(opened_at: datetime, now: datetime) -> Interval:
    """The interval an open one becomes when the campaign stops delivering at `now` (never
    ending before it opened, whatever clock a job was run with)."""
    return Interval(opened_at, max(opened_at, now))


@dataclass(frozen=True, slots=True)
class Delivery:
    """When a campaign delivered: since `open_since` if it still does, and in `closed`
    (those of them that matter to the question asked)."""

    open_since: datetime | None
    closed: tuple[Interval, ...] = ()

    def open_at(self, moment: datetime) -> bool:
        return self.open_since is not None and moment >= self.open_since

    def at(self, moment: datetime) -> bool:
        return self.open_at(moment) or any(i.holds(moment) for i in self.closed)


class SpendRefusal(enum.StrEnum):
    OVER_BUDGET = "OVER_BUDGET"
    CAMPAIGN_NOT_DELIVERING = "CAMPAIGN_NOT_DELIVERING"
    OUTSIDE_FLIGHT = "OUTSIDE_FLIGHT"
    IN_THE_FUTURE = "IN_THE_FUTURE"
    SETTLEMENT_WINDOW_CLOSED = "SETTLEMENT_WINDOW_CLOSED"
    ACCOUNT_BUDGET_REACHED = "ACCOUNT_BUDGET_REACHED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    INVALID_INPUT = "INVALID_INPUT"


@dataclass(frozen=True, slots=True)
class SpendTarget:
    flight: Flight
    delivery: Delivery
    settled: bool


@dataclass(frozen=True, slots=True)
class SpendClock:
    now: datetime
    settlement_window: timedelta
    """Late reports are taken until endsAt plus this."""
    skew: timedelta
    """How far ahead of `now` an ad server's clock may run."""


def spend_refusal(
    target: SpendTarget, occurred_at: datetime, clock: SpendClock
) -> SpendRefusal | None:
    """Why an event cannot be applied at all, if it cannot, in this order: dated in the
    future; reported after endsAt + the settlement window (or once the campaign was
    settled); outside the flight; in a moment the campaign did not deliver. Late reports
    for delivering time are taken until the window closes."""
    if occurred_at > clock.now + clock.skew:
        return SpendRefusal.IN_THE_FUTURE
    if target.settled or clock.now > target.flight.ends_at + clock.settlement_window:
        return SpendRefusal.SETTLEMENT_WINDOW_CLOSED
    if not target.flight.starts_at <= occurred_at <= target.flight.ends_at:
        return SpendRefusal.OUTSIDE_FLIGHT
    if not target.delivery.at(occurred_at):
        return SpendRefusal.CAMPAIGN_NOT_DELIVERING
    return None


class CreditKind(enum.StrEnum):
    UNDERDELIVERY = "UNDERDELIVERY_CREDIT"
    PAUSED_CAMPAIGN = "PAUSED_CAMPAIGN_CREDIT"


@dataclass(frozen=True, slots=True)
class Settlement:
    credit: int
    forfeit: int


def settle(unspent: int, minimum_credit: int) -> Settlement:
    """The unspent rest returns when it is more than the minimum credit; a smaller rest
    is forfeited (and shown as such), never silently kept."""
    if unspent > minimum_credit:
        return Settlement(unspent, 0)
    return Settlement(0, unspent)


def restarted(flight: Flight, now: datetime) -> CampaignStatus | None:
    """A stopped campaign whose reason is gone delivers again while its flight lasts."""
    if now >= flight.ends_at:
        return None
    return flight.running_status(now)
