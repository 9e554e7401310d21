"""Billing settings the services need, handed in by the edge (which reads them from the
environment), so services never import the app's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

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

    min_campaign_budget: str = "50.00"
    """The platform minimum campaign budget, in the campaign's currency."""
    min_credit: str = "1.00"
    """An ended campaign's unspent rest at or below this is forfeited, not credited."""
    settlement_window_hours: int = 12
    """Late delivery reports are taken until endsAt plus this; then the rest is credited."""
    installment_threshold: str = "250.00"
    """A card plan's price under this (in the campaign's currency) is one invoice."""
    charge_retry_days: tuple[int, ...] = (1, 3, 5)
    """Days after each failed charge of an installment before the next attempt."""
    spend_clock_skew_seconds: int = 300
    """A spend event dated later than now by more than this is refused (IN_THE_FUTURE): how
    far ahead of ours the ad server's clock may run."""

    def minimum_top_up(self, currency: Currency) -> Money:
        return minimum_top_up(in_currency(self.min_top_up, currency))

    def minimum_campaign_budget(self, currency: Currency) -> Money:
        return in_currency(self.min_campaign_budget, currency)

    def minimum_credit(self, currency: Currency) -> Money:
        return in_currency(self.min_credit, currency)

    def installment_threshold_in(self, currency: Currency) -> Money:
        return in_currency(self.installment_threshold, currency)

    @property
    def settlement_window(self) -> timedelta:
        return timedelta(hours=self.settlement_window_hours)

    @property
    def spend_clock_skew(self) -> timedelta:
        return timedelta(seconds=self.spend_clock_skew_seconds)

    def plan_price(self, plan: Plan, currency: Currency) -> Money:
        return parse_amount(self.plan_prices[plan.value][currency.value], currency)


def in_currency(setting: str, currency: Currency) -> Money:
    """A setting written as "10.00" in any currency: 10.00 USD, 10 JPY, 10.000 KWD."""
    whole, _, fraction = setting.partition(".")
    if currency.exponent == 0:
        return parse_amount(whole, currency)
    return parse_amount(f"{whole}.{fraction[: currency.exponent]}" if fraction else whole, currency)
