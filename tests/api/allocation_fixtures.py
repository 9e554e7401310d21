"""Given: a subscribed business center whose MONTHLY_INVOICING ad accounts draw on its
balance (automatic allocation), the ad server, and the GraphQL documents these tests share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.helpers import (
    Account,
    Api,
    Center,
    User,
    UserFactory,
    create_account,
    create_center,
    new_campaign,
    subscribe,
)

ENABLE = """
mutation($input: EnableAutomaticAllocationInput!) {
  enableAutomaticAllocation(input: $input) {
    __typename
    ... on EnableAutomaticAllocationSuccess {
      businessCenter { allocationMode allocationModeChangedAt }
      budgetSyncs { adAccount { id } movedToBusinessCenter { amount currencyCode } newBudget { amount } }
    }
    ... on AllocationNotEligibleError { blockers }
    ... on UserError { code message field }
  }
}"""

SET_BUDGET = """
mutation($input: SetAdAccountBudgetInput!) {
  setAdAccountBudget(input: $input) {
    __typename
    ... on SetAdAccountBudgetSuccess {
      adAccount { budget { mode amount { amount } spentInPeriod { amount } remaining { amount } } budgetChangesRemainingToday }
      stoppedCampaigns { id status stopReason }
      restartedCampaigns { id status }
    }
    ... on BudgetChangeLimitReachedError { limitPerDay }
    ... on BudgetBelowMinimumError { minimum { amount } }
    ... on CurrencyMismatchError { expected }
    ... on UserError { code message field }
  }
}"""

ACCOUNT = """
query($id: ID!) {
  adAccount(id: $id) {
    budget { mode amount { amount } periodStart periodEnd spentInPeriod { amount } remaining { amount } }
    budgetChangesRemainingToday
    availableToSpend { amount }
    wallet { balance { cash { amount } vouchers { amount } } }
  }
}"""

CAMPAIGN_STATE = """
query($id: ID!) {
  campaign(id: $id) { status stopReason stopReasonCode paymentPlan spent { amount } funded { amount } }
}"""


@dataclass
class AutoCenter:
    center: Center
    accounts: list[Account]
    admin: User
    adserver: User
    campaigns: list[str] = field(default_factory=list)

    @property
    def token(self) -> str:
        return self.admin.token


async def open_center(
    api: Api, users: UserFactory, cash: list[str], *, enable: bool = True
) -> AutoCenter:
    """A center on the PRO plan (paid from 199.00 of its cash), one MONTHLY_INVOICING
    account per entry of `cash` holding that much, switched to automatic allocation."""
    admin = await users.create("admin")
    center = await create_center(api, admin)
    await users.fund(center.wallet_id, "199.00")
    subscribed = await subscribe(api, center)
    assert subscribed["invoice"]["status"] == "PAID", subscribed
    accounts = []
    for n, amount in enumerate(cash):
        account = await create_account(api, center, f"Account {n}", "MONTHLY_INVOICING")
        if amount != "0.00":
            await users.fund(account.wallet_id, amount)
        accounts.append(account)
    adserver = await users.create("adserver", integration=True)
    shop = AutoCenter(center, accounts, admin, adserver)
    if enable:
        result = await enable_allocation(api, center.id, admin.token)
        assert result["__typename"] == "EnableAutomaticAllocationSuccess", result
    return shop


async def enable_allocation(api: Api, center_id: str, token: str) -> dict[str, Any]:
    variables = {"input": {"businessCenterId": center_id}}
    return (await api.data(ENABLE, variables, token))["enableAutomaticAllocation"]


async def set_budget(
    api: Api,
    account_id: str,
    token: str,
    mode: str,
    amount: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    given: dict[str, Any] = {"adAccountId": account_id, "mode": mode, **extra}
    if amount is not None:
        given["amount"] = {"amount": amount, "currencyCode": "USD"}
    return (await api.data(SET_BUDGET, {"input": given}, token))["setAdAccountBudget"]


async def unlimited(api: Api, shop: AutoCenter) -> None:
    """Lift the caps Budget Sync set, so only money limits spend."""
    for account in shop.accounts:
        result = await set_budget(api, account.id, shop.token, "UNLIMITED")
        assert result["__typename"] == "SetAdAccountBudgetSuccess", result


async def live_campaigns(api: Api, shop: AutoCenter, budget: str = "100000.00") -> list[str]:
    """One launched campaign per account, drawing on the center as it spends."""
    from tests.helpers import launch

    for account in shop.accounts:
        campaign_id = await new_campaign(api, account, shop.token, budget)
        launched = await launch(api, campaign_id, shop.token)
        assert launched["campaign"]["status"] == "ACTIVE", launched
        shop.campaigns.append(campaign_id)
    return shop.campaigns


async def account_state(api: Api, account_id: str, token: str) -> dict[str, Any]:
    return (await api.data(ACCOUNT, {"id": account_id}, token))["adAccount"]


async def campaign_state(api: Api, campaign_id: str, token: str) -> dict[str, Any]:
    return (await api.data(CAMPAIGN_STATE, {"id": campaign_id}, token))["campaign"]
