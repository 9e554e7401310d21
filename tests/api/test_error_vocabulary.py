"""One error vocabulary (issue 24): one code per situation across the mutations, amounts
written as `2,115.66 USD`, one not-found wording, per-event spend errors prefixed with their
index, a code on every limit error, and UNAUTHENTICATED apart from INVALID_TOKEN."""

from __future__ import annotations

from typing import Any

from adledger.schema.ids import to_global_id
from tests.api.campaign_fixtures import open_shop
from tests.helpers import TRANSFER, launch, new_campaign, spend_event

REQUEST_REFUND = """
mutation($input: RequestRefundInput!) { requestRefund(input: $input) {
  __typename
  ... on CurrencyMismatchError { expected }
  ... on InsufficientFundsError { available { amount currencyCode } }
  ... on UserError { code message field }
} }"""


def _refund(wallet_id: str, amount: str, currency: str = "USD") -> dict[str, Any]:
    return {
        "input": {"walletId": wallet_id, "amount": {"amount": amount, "currencyCode": currency}}
    }


async def _request_refund(api, token: str, variables: dict[str, Any]) -> dict[str, Any]:
    return (await api.data(REQUEST_REFUND, variables, token))["requestRefund"]


async def test_a_refund_in_another_currency_is_a_currency_mismatch(api, users) -> None:
    # given a USD wallet with cash
    shop = await open_shop(api, users)
    await users.fund(shop.center.wallet_id, "100.00")
    # when a refund is asked in EUR
    result = await _request_refund(api, shop.token, _refund(shop.center.wallet_id, "10.00", "EUR"))
    # then it is the code every other mutation answers, with the currency expected
    assert result["__typename"] == "CurrencyMismatchError"
    assert result["code"] == "CURRENCY_MISMATCH"
    assert result["expected"] == "USD"
    assert result["field"] == ["input", "amount", "currencyCode"]


async def test_a_refund_above_the_cash_names_the_amount_and_what_is_available(api, users) -> None:
    # given a wallet holding 1,000.00 USD of cash
    shop = await open_shop(api, users)
    await users.fund(shop.center.wallet_id, "1000.00")
    # when 2,115.66 USD is asked back
    result = await _request_refund(api, shop.token, _refund(shop.center.wallet_id, "2115.66"))
    # then the field at fault and what is available are said, amounts written one way
    assert result["__typename"] == "InsufficientFundsError"
    assert result["code"] == "INSUFFICIENT_FUNDS"
    assert result["field"] == ["input", "amount", "amount"]
    assert result["available"] == {"amount": "1000.00", "currencyCode": "USD"}
    assert "1,000.00 USD" in result["message"]


async def test_a_refund_above_what_payments_brought_speaks_amounts_not_minor_units(
    api, users
) -> None:
    # given cash that no payment brought in (so no refund may go back to one)
    shop = await open_shop(api, users)
    await users.fund(shop.center.wallet_id, "3000.00")
    # when part of it is asked back
    result = await _request_refund(api, shop.token, _refund(shop.center.wallet_id, "2115.66"))
    # then too little money is INSUFFICIENT_FUNDS, with the field and an amount in words
    assert result["code"] == "INSUFFICIENT_FUNDS"
    assert result["field"] == ["input", "amount", "amount"]
    assert result["available"] == {"amount": "0.00", "currencyCode": "USD"}
    assert "0.00 USD" in result["message"]
    assert "minor units" not in result["message"]


async def test_a_transfer_above_the_balance_names_the_amount(api, users) -> None:
    # given a center's wallet with 2,115.66 USD of cash and one of its ad accounts
    shop = await open_shop(api, users)
    await users.fund(shop.center.wallet_id, "2115.66")
    variables = {
        "input": {
            "fromWalletId": shop.center.wallet_id,
            "toWalletId": shop.account.wallet_id,
            "amount": {"amount": "5000.00", "currencyCode": "USD"},
        }
    }
    # when more than that is moved
    result = (await api.data(TRANSFER, variables, shop.token))["transferBalance"]
    # then
    assert result["code"] == "INSUFFICIENT_FUNDS"
    assert result["field"] == ["input", "amount", "amount"]
    assert "2,115.66 USD" in result["message"]


async def test_not_found_reads_the_same_for_a_malformed_and_an_unknown_id(api, users) -> None:
    # given a member of a center, and a center the member is not in
    shop = await open_shop(api, users)
    other = await open_shop(api, users)
    await users.fund(other.center.wallet_id, "10.00")
    ids = {
        "malformed": "not-an-id",
        "unknown": to_global_id("Wallet", 987654321),
        "another center's": other.center.wallet_id,
    }
    # when each is asked for a refund
    answers = {
        name: await _request_refund(api, shop.token, _refund(wallet_id, "1.00"))
        for name, wallet_id in ids.items()
    }
    # then all answer one code and one wording, naming the field
    assert {(a["code"], a["message"], tuple(a["field"])) for a in answers.values()} == {
        ("NOT_FOUND", "no wallet has this id", ("input", "walletId"))
    }


RECORD_SPEND = """
mutation($input: RecordSpendInput!) { recordSpend(input: $input) {
  __typename
  ... on RecordSpendSuccess { accepted refused { eventId reason message } }
  ... on UserError { code message field }
} }"""


async def record_spend(api, events: list[dict[str, Any]], token: str) -> dict[str, Any]:
    return (await api.data(RECORD_SPEND, {"input": {"events": events}}, token))["recordSpend"]


async def test_every_per_event_spend_error_starts_with_its_index(api, users) -> None:
    # given a delivering campaign
    shop = await open_shop(api, users, cash="100.00")
    campaign_id = await new_campaign(api, shop.account, shop.token, "100.00")
    await launch(api, campaign_id, shop.token)
    good = spend_event("g1", campaign_id, "1.00")
    bad_events = {
        "wrong currency": spend_event("x", campaign_id, "1.00", "EUR"),
        "zero": spend_event("x", campaign_id, "0.00"),
        "over-precise": spend_event("x", campaign_id, "1.001"),
        "not an amount": spend_event("x", campaign_id, "ten"),
        "unknown campaign": spend_event("x", to_global_id("Campaign", 987654321), "1.00"),
        "empty event id": spend_event("", campaign_id, "1.00"),
    }
    # when each is sent second in a batch
    for name, bad in bad_events.items():
        result = await record_spend(api, [good, bad], shop.adserver.token)
        # then its message says which event
        assert result["message"].startswith("event 1: "), (name, result)
    # and an event refused on its own says so in the same way
    late = {**spend_event("y", campaign_id, "1.00"), "occurredAt": "2026-01-01T00:00:00"}
    result = await record_spend(api, [good, late], shop.adserver.token)
    assert [r["message"][:9] for r in result["refused"]] == ["event 1: "]


VIEWER = "{ viewer { email } }"


async def _auth_error(api, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.client.post("/graphql", json={"query": VIEWER}, headers=headers)
    return response.json()["errors"][0]


async def test_a_missing_token_and_a_wrong_token_are_told_apart(api) -> None:
    # when a request comes without a token, with one that matches nothing, or malformed
    missing = await _auth_error(api, {})
    wrong = await _auth_error(api, {"Authorization": "Bearer adl_not-a-real-token"})
    empty = await _auth_error(api, {"Authorization": "Bearer "})
    basic = await _auth_error(api, {"Authorization": "Basic dXNlcjpwYXNz"})
    # then a missing token is UNAUTHENTICATED and the others INVALID_TOKEN, each said apart
    assert missing["extensions"]["code"] == "UNAUTHENTICATED"
    assert {e["extensions"]["code"] for e in (wrong, empty, basic)} == {"INVALID_TOKEN"}
    assert missing["message"] != wrong["message"]
    assert "Authorization: Bearer" in missing["message"]
    assert "matches no" in wrong["message"]


async def _limit_error(api, query: str) -> dict[str, Any]:
    body = await api.post(query)
    assert body["data"] is None, body
    return body["errors"][0]


async def test_every_limit_error_has_a_code(api) -> None:
    # given documents just over each limit (depth 10, 30 aliases, 2000 tokens)
    deep = (
        "{ viewer { businessCenters { edges { node { adAccounts { edges { node { wallet {"
        " transactions { edges { node { id } } } } } } } } } } } }"
    )
    aliases = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    tokens = "{ " + " ".join("__typename" for _ in range(2001)) + " }"
    # when each is sent, then each refusal says which limit in extensions.code
    assert (await _limit_error(api, deep))["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert (await _limit_error(api, aliases))["extensions"]["code"] == "TOO_MANY_ALIASES"
    assert (await _limit_error(api, tokens))["extensions"]["code"] == "TOO_MANY_TOKENS"


async def test_every_top_level_error_has_a_code(api) -> None:
    # given requests GraphQL itself refuses: unparsable, an unknown field, a missing variable
    requests = {
        "GRAPHQL_PARSE_FAILED": ("{ viewer { email }", {}),
        "GRAPHQL_VALIDATION_FAILED": ("{ viewer { nope } }", {}),
        "BAD_USER_INPUT": ("query($id: ID!) { wallet(id: $id) { id } }", {}),
    }
    for code, (query, variables) in requests.items():
        # when each is sent
        body = await api.post(query, variables)
        # then each error says which in extensions.code
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], body
