"""Given: a center under automatic allocation whose campaign draws on its own wallet as it
spends, a saved card (that pays, or declines), and the documents of automatic recharge."""

from __future__ import annotations

from typing import Any

from tests.api.allocation_fixtures import AutoCenter, live_campaigns, open_center, unlimited
from tests.api.installment_fixtures import attach_card
from tests.helpers import Api, UserFactory, record_spend, spend_event

SET = """
mutation($input: SetAutoRechargeInput!) {
  setAutoRecharge(input: $input) {
    __typename
    ... on WalletSettingsSuccess { wallet { id autoRecharge {
      threshold { amount currencyCode } amount { amount } targetBalance { amount }
      monthlyCap { amount } status rechargedThisMonth { amount }
    } } }
    ... on CurrencyMismatchError { expected }
    ... on UserError { code message field }
  }
}"""
DISABLE = """
mutation($input: WalletSettingsInput!) {
  disableAutoRecharge(input: $input) {
    __typename
    ... on WalletSettingsSuccess { wallet { autoRecharge { status } } }
    ... on UserError { code message field }
  }
}"""
WALLET = """
query($id: ID!) { wallet(id: $id) {
  balance { cash { amount } available { amount } }
  autoRecharge { status threshold { amount } rechargedThisMonth { amount } }
} }"""
CENTER = """
query($id: ID!) { businessCenter(id: $id) {
  invoices(kind: AUTO_RECHARGE, first: 50) { edges { node {
    id number kind status amountDue { amount } paymentReference paidAt
  } } }
  notifications(first: 20) { edges { node { kind message } } }
  auditTrail(first: 50) { edges { node { action amount { amount } detail } } }
} }"""


async def recharge_center(
    api: Api, users: UserFactory, webhooks: Any, cash: str = "500.00", *, declining: bool = False
) -> AutoCenter:
    """One account with nothing of its own; its live campaign draws on the center's
    wallet, which holds `cash`; the center has a card on file."""
    shop = await open_center(api, users, ["0.00"])
    await unlimited(api, shop)
    await users.fund(shop.center.wallet_id, cash)
    await live_campaigns(api, shop)
    await attach_card(api, shop, webhooks, declining=declining)  # its center and token
    return shop


async def set_rule(
    api: Api,
    shop: AutoCenter,
    threshold: str = "200.00",
    *,
    amount: str | None = "300.00",
    target: str | None = None,
    cap: str | None = None,
    key: str | None = None,
    token: str | None = None,
    currency: str = "USD",
) -> dict[str, Any]:
    def money(value: str) -> dict[str, str]:
        return {"amount": value, "currencyCode": currency}

    given: dict[str, Any] = {"walletId": shop.center.wallet_id, "threshold": money(threshold)}
    if amount is not None:
        given["amount"] = money(amount)
    if target is not None:
        given["targetBalance"] = money(target)
    if cap is not None:
        given["monthlyCap"] = money(cap)
    if key is not None:
        given["idempotencyKey"] = key
    found = await api.data(SET, {"input": given}, token or shop.token)
    return dict(found["setAutoRecharge"])


async def spend(api: Api, shop: AutoCenter, amount: str, event_id: str) -> dict[str, Any]:
    events = [spend_event(event_id, shop.campaigns[0], amount)]
    return await record_spend(api, events, shop.adserver.token)


async def wallet(api: Api, shop: AutoCenter) -> dict[str, Any]:
    return dict((await api.data(WALLET, {"id": shop.center.wallet_id}, shop.token))["wallet"])


async def center(api: Api, shop: AutoCenter) -> dict[str, Any]:
    found = (await api.data(CENTER, {"id": shop.center.id}, shop.token))["businessCenter"]
    return {
        "invoices": [e["node"] for e in found["invoices"]["edges"]],
        "notifications": [e["node"] for e in found["notifications"]["edges"]],
        "audit": [e["node"] for e in found["auditTrail"]["edges"]],
    }
