"""Billing settings the services need, handed in by the edge (which reads them from the
environment), so services never import the app's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from adledger.domain.billing import Plan, minimum_top_up
from adledger.domain.money import Currency, Money, parse_amount

DEFAULT_PLAN_PRICES: Mapping[str, Mapping[str, str]] = {
    "STARTER": {
        "USD": "49.00",
        "EUR": "45.00",
        "GBP": "39.00",
        "CAD": "65.00",
        "AUD": "75.00",
        "CHF": "45.00",
        "JPY": "7000",
        "KWD": "15.000",
    },
    "PRO": {
        "USD": "199.00",
        "EUR": "185.00",
        "GBP": "159.00",
        "CAD": "269.00",
        "AUD": "299.00",
        "CHF": "179.00",
        "JPY": "29000",
        "KWD": "61.000",
    },
}


@dataclass(frozen=True, slots=True)
class BillingConfig:
    min_top_up: str = "10.00"
    """In the wallet's currency: 10.00 USD, 10 JPY (raised to the provider's minimum)."""
    days_until_due: int = 30
    plan_prices: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: DEFAULT_PLAN_PRICES
    )

    def minimum_top_up(self, currency: Currency) -> Money:
        whole = self.min_top_up.split(".")[0] if currency.exponent == 0 else self.min_top_up
        return minimum_top_up(parse_amount(whole, currency))

    def plan_price(self, plan: Plan, currency: Currency) -> Money:
        return parse_amount(self.plan_prices[plan.value][currency.value], currency)
