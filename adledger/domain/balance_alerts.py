"""Low-balance alerts (issue 27) as pure rules: what a wallet may ask for, and when an
alert fires or re-arms.

An armed alert fires when its measure (the available balance, or the days of runway) is
below its line; it is then disarmed, and re-armed only once the measure is back at or
above the line plus a margin, so a balance hovering at the line alerts once per real
crossing:
- BALANCE_BELOW: 10 % of the threshold (rounded up), at least the payment provider's
  minimum charge in the currency (0.50 USD);
- RUNWAY_BELOW_DAYS: 10 % of the days, at least 1 day.
A runway with no spend (no burn) is endless: it never fires and re-arms.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from adledger.domain.billing import PROVIDER_MINIMUM_MINOR
from adledger.domain.errors import InvalidInput
from adledger.domain.money import Currency

MAX_ALERTS = 5
MIN_DAYS = Decimal("0.5")
MAX_DAYS = Decimal(90)


class AlertKind(enum.StrEnum):
    BALANCE_BELOW = "BALANCE_BELOW"
    RUNWAY_BELOW_DAYS = "RUNWAY_BELOW_DAYS"


@dataclass(frozen=True, slots=True)
class AlertSetting:
    kind: AlertKind
    threshold: int | None
    """BALANCE_BELOW: minor units of the wallet's currency."""
    days: Decimal | None
    """RUNWAY_BELOW_DAYS: two decimals at most."""


class Change(enum.Enum):
    FIRE = "fire"
    REARM = "rearm"


def margin(setting: AlertSetting, currency: Currency) -> Fraction:
    if setting.kind is AlertKind.BALANCE_BELOW and setting.threshold is not None:
        tenth = -(-setting.threshold // 10)
        return Fraction(max(tenth, PROVIDER_MINIMUM_MINOR[currency]))
    days = Fraction(setting.days or 0)
    return max(days / 10, Fraction(1))


def line(setting: AlertSetting) -> Fraction:
    if setting.kind is AlertKind.BALANCE_BELOW:
        return Fraction(setting.threshold or 0)
    return Fraction(setting.days or 0)


def decide(
    setting: AlertSetting, armed: bool, measure: Fraction | None, currency: Currency
) -> Change | None:
    """`measure`: the balance, or the days left (None: no burn, endless)."""
    if measure is None:
        return None if armed else Change.REARM
    if armed and measure < line(setting):
        return Change.FIRE
    if not armed and measure >= line(setting) + margin(setting, currency):
        return Change.REARM
    return None


def check_days(days: object, field: tuple[str, ...]) -> Decimal:
    """Days between 0.5 and 90, with two decimals at most."""
    try:
        value = Decimal(str(days))
    except ArithmeticError:
        raise InvalidInput("days is a number", field) from None
    if not value.is_finite() or not MIN_DAYS <= value <= MAX_DAYS:
        raise InvalidInput(f"days are between {MIN_DAYS} and {MAX_DAYS}", field)
    if value != value.quantize(Decimal("0.01")):
        raise InvalidInput("days have two decimals at most", field)
    return value.quantize(Decimal("0.01"))


def check_count(settings: Sequence[object]) -> None:
    if len(settings) > MAX_ALERTS:
        raise InvalidInput(
            f"a wallet has at most {MAX_ALERTS} alerts, not {len(settings)}", ("input", "alerts")
        )
