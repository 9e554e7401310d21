"""How a campaign is paid decides where its spend comes from, and a campaign out of budget
or money stops (DESIGN §7) as pure rules; services/stops.py writes what they decide."""

from __future__ import annotations

from adledger.domain.campaigns import CampaignStatus, PaymentPlan


def draws_on_center(payment_plan: str) -> bool:
    """Spend drawn as it happens on the account's and then the center's money."""
    return payment_plan == PaymentPlan.BUSINESS_CENTER_BALANCE


def on_credit_line(payment_plan: str) -> bool:
    """Spend drawn on the center's credit line only, billed per cycle."""
    return payment_plan == PaymentPlan.CREDIT_LINE


def draws_as_it_spends(payment_plan: str) -> bool:
    """No reserve: each spend event draws on the center's money (or its credit line)."""
    return draws_on_center(payment_plan) or on_credit_line(payment_plan)


def stopped(status: str) -> CampaignStatus | None:
    """The status a campaign stopped for lack of budget or money takes: ACTIVE →
    BUDGET_EXHAUSTED; None when it was not delivering (nothing to stop)."""
    return CampaignStatus.BUDGET_EXHAUSTED if status == CampaignStatus.ACTIVE else None
