"""A wallet's automatic recharge rule, as the API shows it (issue 27)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry

from adledger.domain.months import month_of
from adledger.domain.recharge import RuleStatus, recharged_in
from adledger.schema.money import Money


@strawberry.enum
class AutoRechargeStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    SUSPENDED = strawberry.enum_value(
        "SUSPENDED", description="Three failed charges in a row; a member re-enables it."
    )


@strawberry.type(
    description=(
        "Below the threshold, the center's saved card is charged (an AUTO_RECHARGE invoice); "
        "the wallet is credited once it is paid."
    )
)
class AutoRechargeRule:
    threshold: Money
    amount: Money | None = strawberry.field(
        description="Charge this much each time (or targetBalance)."
    )
    target_balance: Money | None = strawberry.field(
        description="Charge what brings the balance up to this (or amount)."
    )
    monthly_cap: Money | None = strawberry.field(
        description="At most this much recharged in a UTC month; null: no cap."
    )
    status: AutoRechargeStatus
    recharged_this_month: Money = strawberry.field(
        description="Paid recharges this UTC month (what the cap counts)."
    )

    @classmethod
    def from_row(cls, row: Any, currency: str, now: datetime) -> AutoRechargeRule | None:
        """None for a rule a member disabled (the API shows no rule). What it recharged
        counts in its month only."""
        if row is None or row.status == RuleStatus.DISABLED:
            return None

        def optional(minor: int | None) -> Money | None:
            return None if minor is None else Money.of(minor, currency)

        return cls(
            threshold=Money.of(row.threshold, currency),
            amount=optional(row.amount),
            target_balance=optional(row.target_balance),
            monthly_cap=optional(row.monthly_cap),
            status=AutoRechargeStatus(row.status),
            recharged_this_month=Money.of(
                recharged_in(month_of(now), row.month, row.recharged_this_month), currency
            ),
        )
