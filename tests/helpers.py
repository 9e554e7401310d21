"""Given/when/then helpers: GraphQL over HTTP, users with tokens, funded wallets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger import clock
from adledger.domain.money import Currency, parse_amount
from adledger.schema.ids import db_id_of
from adledger.services import users as user_service
from adledger.services import wallets as wallet_service


class TimeTravel:
    """The one clock, moved within a test (the `time_travel` fixture). It keeps ticking
    from where it is moved to; processes started after a move read it too."""

    def now(self) -> datetime:
        return clock.now()

    def to(self, instant: datetime) -> datetime:
        clock.travel_to(instant)
        return clock.now()

    def by(self, delta: timedelta) -> datetime:
        clock.travel_by(delta)
        return clock.now()


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        body = await self.post(query, variables, token)
        assert "errors" not in body, body["errors"]
        return body["data"]


@dataclass
class User:
    email: str
    token: str


class UserFactory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.count = 0

    async def create(
        self, name: str | None = None, *, staff: bool = False, integration: bool = False
    ) -> User:
        self.count += 1
        email = f"{name or 'user'}{self.count}@example.com"
        async with self.sessions() as session:
            token = await user_service.create_user(
                session, email, is_staff=staff, is_integration=integration
            )
            await session.commit()
        return User(email, token)

    async def fund(self, wallet_gid: str, amount: str, currency: Currency = Currency.USD) -> None:
        """Cash into a wallet as finance would post it (top-ups arrive with a later issue)."""
        wallet_id = db_id_of(wallet_gid, "Wallet")
        assert wallet_id is not None
        async with self.sessions() as session:
            await wallet_service.credit_adjustment(
                session, wallet_id, parse_amount(amount, currency), "test funding", None
            )
            await session.commit()


CREATE_CENTER = """
mutation($input: CreateBusinessCenterInput!) {
  createBusinessCenter(input: $input) {
    __typename
    ... on CreateBusinessCenterSuccess { businessCenter { id wallet { id } } }
    ... on UserError { code message field }
  }
}"""

CREATE_ACCOUNT = """
mutation($input: CreateAdAccountInput!) {
  createAdAccount(input: $input) {
    __typename
    ... on CreateAdAccountSuccess { adAccount { id wallet { id } } }
    ... on UserError { code message field }
  }
}"""

ADD_MEMBER = """
mutation($input: AddBusinessCenterMemberInput!) {
  addBusinessCenterMember(input: $input) {
    __typename
    ... on AddBusinessCenterMemberSuccess { invitation { id email role status } }
    ... on UserError { code message field }
  }
}"""

ACCEPT_INVITATION = """
mutation($input: AcceptBusinessCenterInvitationInput!) {
  acceptBusinessCenterInvitation(input: $input) {
    __typename
    ... on BusinessCenterInvitationSuccess { invitation { status } businessCenter { id } }
    ... on UserError { code message field }
  }
}"""

TRANSFER = """
mutation($input: TransferBalanceInput!) {
  transferBalance(input: $input) {
    __typename
    ... on TransferBalanceSuccess {
      from { id balance { cash { amount } vouchers { amount } } }
      to { id balance { cash { amount } vouchers { amount } } }
    }
    ... on InsufficientFundsError { available { amount currencyCode } }
    ... on CurrencyMismatchError { expected }
    ... on UserError { code message field }
  }
}"""

BALANCE = """
query($id: ID!) {
  wallet(id: $id) {
    balance {
      total { amount currencyCode } cash { amount } vouchers { amount }
      creditLineLimit { amount } creditLineUsed { amount } held { amount } available { amount }
    }
  }
}"""


@dataclass
class Center:
    id: str
    wallet_id: str
    admin: User


@dataclass
class Account:
    id: str
    wallet_id: str


async def create_center(api: Api, admin: User, currency: str = "USD", name: str = "Acme") -> Center:
    data = await api.data(
        CREATE_CENTER, {"input": {"name": name, "currencyCode": currency}}, admin.token
    )
    result = data["createBusinessCenter"]
    assert result["__typename"] == "CreateBusinessCenterSuccess", result
    center = result["businessCenter"]
    return Center(center["id"], center["wallet"]["id"], admin)


async def create_account(
    api: Api, center: Center, name: str = "Account", billing: str = "PREPAID"
) -> Account:
    variables = {"input": {"businessCenterId": center.id, "name": name, "billingOption": billing}}
    result = (await api.data(CREATE_ACCOUNT, variables, center.admin.token))["createAdAccount"]
    assert result["__typename"] == "CreateAdAccountSuccess", result
    return Account(result["adAccount"]["id"], result["adAccount"]["wallet"]["id"])


async def invite(api: Api, center: Center, email: str, role: str) -> dict[str, Any]:
    variables = {"input": {"businessCenterId": center.id, "email": email, "role": role}}
    return (await api.data(ADD_MEMBER, variables, center.admin.token))["addBusinessCenterMember"]


async def accept(api: Api, invitation_id: str, token: str) -> dict[str, Any]:
    variables = {"input": {"invitationId": invitation_id}}
    data = await api.data(ACCEPT_INVITATION, variables, token)
    return data["acceptBusinessCenterInvitation"]


async def add_member(api: Api, center: Center, user: User, role: str) -> None:
    """Invite the user, who accepts: the only way onto a business center over the API."""
    invited = await invite(api, center, user.email, role)
    assert invited["__typename"] == "AddBusinessCenterMemberSuccess", invited
    accepted = await accept(api, invited["invitation"]["id"], user.token)
    assert accepted["__typename"] == "BusinessCenterInvitationSuccess", accepted


async def balance(api: Api, wallet_id: str, token: str) -> dict[str, Any]:
    data = await api.data(BALANCE, {"id": wallet_id}, token)
    return data["wallet"]["balance"]


TOP_UP = """
mutation($input: TopUpWalletInput!) {
  topUpWallet(input: $input) {
    __typename
    ... on TopUpWalletSuccess { topUp {
      id status amount { amount currencyCode } targetBalance { amount } paidAt
      invoice { id number kind status amountDue { amount } paymentReference hostedUrl lines { description amount { amount } } }
    } }
    ... on TargetAlreadyCoveredError { covered { amount } }
    ... on AmountBelowMinimumError { minimum { amount currencyCode } }
    ... on UserError { code message field }
  }
}"""

SUBSCRIBE = """
mutation($input: SubscribeToPlanInput!) {
  subscribeToPlan(input: $input) {
    __typename
    ... on SubscribeToPlanSuccess {
      businessCenter { subscription { plan status currentPeriodStart currentPeriodEnd } }
      invoice { id number kind status amountDue { amount } paymentReference paidAt }
    }
    ... on UserError { code message field }
  }
}"""


async def subscribe(
    api: Api, center: Center, plan: str = "PRO", from_balance: bool = True
) -> dict[str, Any]:
    variables = {
        "input": {"businessCenterId": center.id, "plan": plan, "payFromCreditBalance": from_balance}
    }
    return (await api.data(SUBSCRIBE, variables, center.admin.token))["subscribeToPlan"]


async def top_up(
    api: Api,
    wallet_id: str,
    token: str,
    *,
    amount: str | None = None,
    target: str | None = None,
    currency: str = "USD",
    key: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"walletId": wallet_id}
    if amount is not None:
        payload["amount"] = {"amount": amount, "currencyCode": currency}
    if target is not None:
        payload["targetBalance"] = {"amount": target, "currencyCode": currency}
    if key is not None:
        payload["idempotencyKey"] = key
    return (await api.data(TOP_UP, {"input": payload}, token))["topUpWallet"]


CAMPAIGN_FIELDS = """
fragment CampaignFields on Campaign {
  id name status budget { amount currencyCode } spent { amount } funded { amount }
  credited { amount } forfeited { amount } minimumBudget { amount }
  startsAt endsAt launchedAt settledAt
  shortfallInvoice { id number kind status amountDue { amount } paymentReference }
}
"""

CREATE_CAMPAIGN = (
    """
mutation($input: CreateCampaignInput!) {
  createCampaign(input: $input) {
    __typename
    ... on CreateCampaignSuccess { campaign { ...CampaignFields } }
    ... on BudgetBelowMinimumError { minimum { amount currencyCode } }
    ... on CurrencyMismatchError { expected }
    ... on UserError { code message field }
  }
}"""
    + CAMPAIGN_FIELDS
)

LAUNCH_CAMPAIGN = (
    """
mutation($input: LaunchCampaignInput!) {
  launchCampaign(input: $input) {
    __typename
    ... on LaunchCampaignSuccess {
      campaign { ...CampaignFields }
      shortfallInvoice { id number kind status amountDue { amount } paymentReference }
    }
    ... on UserError { code message field }
  }
}"""
    + CAMPAIGN_FIELDS
)

UPDATE_BUDGET = (
    """
mutation($input: UpdateCampaignBudgetInput!) {
  updateCampaignBudget(input: $input) {
    __typename
    ... on UpdateCampaignBudgetSuccess {
      campaign { ...CampaignFields } credited { amount } charged { amount }
    }
    ... on BudgetBelowMinimumError { minimum { amount currencyCode } }
    ... on InsufficientFundsError { available { amount } }
    ... on UserError { code message field }
  }
}"""
    + CAMPAIGN_FIELDS
)

CAMPAIGN_ACTION = """
mutation($input: CampaignActionInput!) {
  ACTION(input: $input) {
    __typename
    ... on CampaignActionSuccess { campaign { ...CampaignFields } }
    ... on UserError { code message field }
  }
}"""

RECORD_SPEND = """
mutation($input: RecordSpendInput!) {
  recordSpend(input: $input) {
    __typename
    ... on RecordSpendSuccess {
      accepted duplicates
      stoppedCampaigns { id status }
      refused { eventId amount { amount currencyCode } reason }
    }
    ... on CurrencyMismatchError { expected }
    ... on UserError { code message field }
  }
}"""

CAMPAIGN = (
    """
query($id: ID!) { campaign(id: $id) { ...CampaignFields invoices { edges { node { id kind status } } } } }"""
    + CAMPAIGN_FIELDS
)


def flight(days: int = 30, *, starts_in_days: float = -1) -> tuple[str, str]:
    """startsAt and endsAt around the clock's now; by default already started."""
    start = clock.now() + timedelta(days=starts_in_days)
    return start.isoformat(), (start + timedelta(days=days)).isoformat()


async def create_campaign(
    api: Api,
    account: Account,
    token: str,
    budget: str = "1000.00",
    *,
    currency: str = "USD",
    starts_in_days: float = -1,
    days: int = 30,
    name: str = "Spring sale",
) -> dict[str, Any]:
    starts, ends = flight(days, starts_in_days=starts_in_days)
    variables = {
        "input": {
            "adAccountId": account.id,
            "name": name,
            "budget": {"amount": budget, "currencyCode": currency},
            "startsAt": starts,
            "endsAt": ends,
        }
    }
    return (await api.data(CREATE_CAMPAIGN, variables, token))["createCampaign"]


async def launch(api: Api, campaign_id: str, token: str) -> dict[str, Any]:
    variables = {"input": {"campaignId": campaign_id}}
    return (await api.data(LAUNCH_CAMPAIGN, variables, token))["launchCampaign"]


async def new_campaign(api: Api, account: Account, token: str, budget: str = "1000.00") -> str:
    created = await create_campaign(api, account, token, budget)
    assert created["__typename"] == "CreateCampaignSuccess", created
    return str(created["campaign"]["id"])


async def update_budget(
    api: Api, campaign_id: str, token: str, budget: str, currency: str = "USD"
) -> dict[str, Any]:
    variables = {
        "input": {"campaignId": campaign_id, "budget": {"amount": budget, "currencyCode": currency}}
    }
    return (await api.data(UPDATE_BUDGET, variables, token))["updateCampaignBudget"]


async def campaign_action(
    api: Api, action: str, campaign_id: str, token: str, reason: str | None = None
) -> dict[str, Any]:
    variables: dict[str, Any] = {"input": {"campaignId": campaign_id}}
    if reason is not None:
        variables["input"]["reason"] = reason
    query = CAMPAIGN_ACTION.replace("ACTION", action) + CAMPAIGN_FIELDS
    data = await api.data(query, variables, token)
    return data[action]


def spend_event(
    event_id: str, campaign_id: str, amount: str, currency: str = "USD", occurred_at: str = ""
) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "campaignId": campaign_id,
        "amount": {"amount": amount, "currencyCode": currency},
        "impressions": 100,
        "occurredAt": occurred_at or clock.now().isoformat(),
    }


async def record_spend(api: Api, events: list[dict[str, Any]], token: str) -> dict[str, Any]:
    return (await api.data(RECORD_SPEND, {"input": {"events": events}}, token))["recordSpend"]


async def campaign(api: Api, campaign_id: str, token: str) -> dict[str, Any]:
    found = (await api.data(CAMPAIGN, {"id": campaign_id}, token))["campaign"]
    assert found is not None
    return dict(found)
