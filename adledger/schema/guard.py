"""The balance guard's types (issue 27): a wallet's runway and its low-balance alerts."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import strawberry

from adledger.domain import balance_alerts as domain_alerts
from adledger.domain.runway import Runway as DomainRunway
from adledger.schema.input_plans import planned
from adledger.schema.money import Money, MoneyInput

BalanceAlertKind = strawberry.enum(domain_alerts.AlertKind, name="BalanceAlertKind")


@strawberry.type(
    description=(
        "How long a wallet's money lasts: spend per day over the last 7 complete UTC days, "
        "weighted 7 (yesterday) to 1; and whether it covers what live and scheduled "
        "campaigns may still take through their end dates, drawn evenly over their flights."
    )
)
class Runway:
    burn_rate_per_day: Money = strawberry.field(
        description="Spend per day over the trailing window (rounded down to the minor unit)."
    )
    days_left: float | None = strawberry.field(
        description="Days the available balance lasts at that rate; null while nothing is spent."
    )
    runs_out_at: datetime | None
    committed_shortfall_at: datetime | None = strawberry.field(
        description=(
            "First instant the balance no longer covers what live and scheduled campaigns "
            "may still spend; null if it covers all."
        )
    )
    committed_shortfall: Money = strawberry.field(
        description="How much is missing for them by their end dates; zero if nothing."
    )

    @classmethod
    def of(cls, found: DomainRunway, currency: str) -> Runway:
        return cls(
            burn_rate_per_day=Money.of(math.floor(found.burn_per_day), currency),
            days_left=None if found.days_left is None else float(found.days_left),
            runs_out_at=found.runs_out_at,
            committed_shortfall_at=found.shortfall_at,
            committed_shortfall=Money.of(found.shortfall, currency),
        )


@strawberry.type
class BalanceAlert:
    kind: BalanceAlertKind
    threshold: Money | None = strawberry.field(description="BALANCE_BELOW only.")
    days: float | None = strawberry.field(description="RUNWAY_BELOW_DAYS only.")
    armed: bool = strawberry.field(
        description="False after it fired, until the balance climbs back above it."
    )
    last_triggered_at: datetime | None

    @classmethod
    def from_row(cls, row: Any, currency: str) -> BalanceAlert:
        return cls(
            kind=domain_alerts.AlertKind(row.kind),
            threshold=None if row.threshold is None else Money.of(row.threshold, currency),
            days=None if row.days is None else float(row.days),
            armed=row.armed,
            last_triggered_at=row.last_triggered_at,
        )


@planned
@strawberry.input
class BalanceAlertInput:
    kind: BalanceAlertKind
    threshold: MoneyInput | None = None
    days: float | None = None


@planned
@strawberry.input
class SetBalanceAlertsInput:
    wallet_id: strawberry.ID
    alerts: list[BalanceAlertInput] = strawberry.field(
        description="Replaces the wallet's alerts; at most 5."
    )
