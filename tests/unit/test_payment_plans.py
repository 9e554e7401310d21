"""Where a campaign's spend comes from, by its payment plan, and which campaigns a lack of
budget or money stops (domain/stops.py, domain/ad_accounts.py)."""

from __future__ import annotations

import pytest

from adledger.domain.ad_accounts import AdAccountType, BillingOption, fits_automatic_allocation
from adledger.domain.campaigns import CampaignStatus, PaymentPlan
from adledger.domain.stops import draws_as_it_spends, draws_on_center, on_credit_line, stopped


@pytest.mark.parametrize(
    ("plan", "center", "line"),
    [
        (PaymentPlan.CREDIT_BALANCE, False, False),
        (PaymentPlan.INSTALLMENTS, False, False),
        (PaymentPlan.PREPAY, False, False),
        (PaymentPlan.CREDIT_LINE, False, True),
        (PaymentPlan.BUSINESS_CENTER_BALANCE, True, False),
    ],
)
def test_only_center_and_credit_line_plans_draw_as_they_spend(
    plan: PaymentPlan, center: bool, line: bool
) -> None:
    # The stored column is a plain string
    assert draws_on_center(plan.value) is center
    assert on_credit_line(plan.value) is line
    assert draws_as_it_spends(plan.value) is (center or line)


@pytest.mark.parametrize("status", list(CampaignStatus))
def test_only_a_delivering_campaign_stops(status: CampaignStatus) -> None:
    expected = CampaignStatus.BUDGET_EXHAUSTED if status is CampaignStatus.ACTIVE else None
    assert stopped(status.value) == expected


@pytest.mark.parametrize("billing", list(BillingOption))
@pytest.mark.parametrize("kind", list(AdAccountType))
def test_automatic_allocation_admits_monthly_invoicing_auction_accounts_only(
    billing: BillingOption, kind: AdAccountType
) -> None:
    expected = billing is BillingOption.MONTHLY_INVOICING and kind is AdAccountType.AUCTION
    assert fits_automatic_allocation(billing.value, kind.value) is expected
