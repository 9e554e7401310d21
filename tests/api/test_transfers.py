"""transferBalance: MANUAL allocation between a business center and its ad accounts."""

from __future__ import annotations

import pytest

from adledger.domain.money import Currency
from tests.helpers import TRANSFER, balance, create_account, create_center

GRANT = """
mutation($input: GrantVouchersInput!) {
  grantVouchers(input: $input) {
    __typename
    ... on GrantVouchersSuccess { wallet { balance { vouchers { amount } } } }
    ... on UserError { code message field }
  }
}"""

TRANSACTIONS = """
query($id: ID!, $kinds: [WalletTransactionKind!]) {
  wallet(id: $id) {
    transactions(first: 10, kinds: $kinds) {
      edges { node { kind bucket amount { amount } balanceAfter { amount } actorEmail } }
    }
  }
}"""


def transfer_input(
    source: str, target: str, amount: object, currency: str = "USD", **extra: object
) -> dict[str, object]:
    return {
        "input": {
            "fromWalletId": source,
            "toWalletId": target,
            "amount": {"amount": amount, "currencyCode": currency},
            **extra,
        }
    }


@pytest.fixture
async def funded(api, users):
    admin = await users.create("admin")
    center = await create_center(api, admin)
    account = await create_account(api, center)
    await users.fund(center.wallet_id, "100.00")
    return center, account


async def _balances(api, center, account) -> tuple[str, str]:
    token = center.admin.token
    return (
        (await balance(api, center.wallet_id, token))["cash"]["amount"],
        (await balance(api, account.wallet_id, token))["cash"]["amount"],
    )


@pytest.mark.parametrize(
    ("amount", "code", "field"),
    [
        ("-5.00", "INVALID_INPUT", ["input", "amount", "amount"]),
        ("0", "INVALID_INPUT", ["input", "amount", "amount"]),
        ("0.00", "INVALID_INPUT", ["input", "amount", "amount"]),
        ("1.005", "INVALID_INPUT", ["input", "amount", "amount"]),
        ("ten", "INVALID_INPUT", ["input", "amount", "amount"]),
        ("1e2", "INVALID_INPUT", ["input", "amount", "amount"]),
        ("9223372036854775808", "INVALID_INPUT", ["input", "amount", "amount"]),
        ("99999999999999999999999999.00", "INVALID_INPUT", ["input", "amount", "amount"]),
        (12.5, "INVALID_INPUT", ["input", "amount", "amount"]),
        ("100.01", "INSUFFICIENT_FUNDS", ["input", "amount", "amount"]),
    ],
)
async def test_bad_amounts_get_a_typed_error_and_change_nothing(
    api, funded, amount, code, field
) -> None:
    center, account = funded
    variables = transfer_input(center.wallet_id, account.wallet_id, amount)
    result = (await api.data(TRANSFER, variables, center.admin.token))["transferBalance"]
    assert (result["code"], result["field"]) == (code, field)
    assert await _balances(api, center, account) == ("100.00", "0.00")


async def test_insufficient_funds_says_what_is_available(api, funded) -> None:
    center, account = funded
    variables = transfer_input(center.wallet_id, account.wallet_id, "150.00")
    result = (await api.data(TRANSFER, variables, center.admin.token))["transferBalance"]
    assert result["__typename"] == "InsufficientFundsError"
    assert result["available"] == {"amount": "100.00", "currencyCode": "USD"}


async def test_over_precise_literal_in_the_query_text_is_refused(api, funded) -> None:
    center, account = funded
    query = (
        f'mutation {{ transferBalance(input: {{fromWalletId: "{center.wallet_id}", '
        f'toWalletId: "{account.wallet_id}", amount: {{amount: 1.001, currencyCode: USD}}}}) '
        "{ ... on UserError { code field } } }"
    )
    result = (await api.data(query, token=center.admin.token))["transferBalance"]
    assert result == {"code": "INVALID_INPUT", "field": ["input", "amount", "amount"]}


async def test_a_currency_the_wallet_does_not_hold_is_a_mismatch(api, funded) -> None:
    center, account = funded
    variables = transfer_input(center.wallet_id, account.wallet_id, "10.00", "EUR")
    result = (await api.data(TRANSFER, variables, center.admin.token))["transferBalance"]
    assert result["__typename"] == "CurrencyMismatchError"
    assert result["expected"] == "USD"
    assert await _balances(api, center, account) == ("100.00", "0.00")


async def test_an_unknown_currency_is_refused_by_the_schema(api, funded) -> None:
    center, account = funded
    variables = transfer_input(center.wallet_id, account.wallet_id, "10.00", "XYZ")
    body = await api.post(TRANSFER, variables, center.admin.token)
    assert body["data"] is None
    assert "CurrencyCode" in body["errors"][0]["message"]
    assert await _balances(api, center, account) == ("100.00", "0.00")


async def test_a_transfer_to_the_same_wallet_is_invalid(api, funded) -> None:
    center, _ = funded
    variables = transfer_input(center.wallet_id, center.wallet_id, "10.00")
    result = (await api.data(TRANSFER, variables, center.admin.token))["transferBalance"]
    assert (result["code"], result["field"]) == ("INVALID_INPUT", ["input", "toWalletId"])


@pytest.mark.parametrize(
    "bad_id", ["nonsense", "", "V2FsbGV0Ong=", "QWRBY2NvdW50OjE=", "V2FsbGV0Ojk5OTk5"]
)
async def test_malformed_or_unknown_ids_are_not_found(api, funded, bad_id) -> None:
    center, _ = funded
    variables = transfer_input(center.wallet_id, bad_id, "10.00")
    result = (await api.data(TRANSFER, variables, center.admin.token))["transferBalance"]
    assert (result["code"], result["field"]) == ("NOT_FOUND", ["input", "toWalletId"])


async def test_vouchers_move_in_their_own_bucket(api, users, funded) -> None:
    center, account = funded
    staff = await users.create("billing", staff=True)
    grant = {
        "input": {
            "walletId": center.wallet_id,
            "reason": "welcome credit",
            "amount": {"amount": "25.00", "currencyCode": "USD"},
        }
    }
    granted = (await api.data(GRANT, grant, staff.token))["grantVouchers"]
    assert granted["wallet"]["balance"]["vouchers"]["amount"] == "25.00"
    variables = transfer_input(center.wallet_id, account.wallet_id, "10.00", bucket="VOUCHERS")
    result = (await api.data(TRANSFER, variables, center.admin.token))["transferBalance"]
    assert result["to"]["balance"] == {"cash": {"amount": "0.00"}, "vouchers": {"amount": "10.00"}}
    assert result["from"]["balance"]["vouchers"]["amount"] == "15.00"


async def test_a_credit_line_is_not_transferable(api, funded) -> None:
    center, account = funded
    variables = transfer_input(center.wallet_id, account.wallet_id, "1.00", bucket="CREDIT_LINE")
    result = (await api.data(TRANSFER, variables, center.admin.token))["transferBalance"]
    assert (result["code"], result["field"]) == ("INVALID_INPUT", ["input", "bucket"])


async def test_transfers_show_as_allocation_transactions_on_both_wallets(api, funded) -> None:
    center, account = funded
    token = center.admin.token
    await api.data(TRANSFER, transfer_input(center.wallet_id, account.wallet_id, "40.00"), token)
    source = await api.data(TRANSACTIONS, {"id": center.wallet_id}, token)
    target = await api.data(
        TRANSACTIONS, {"id": account.wallet_id, "kinds": ["ALLOCATION_IN"]}, token
    )
    assert [e["node"] for e in source["wallet"]["transactions"]["edges"]] == [
        {
            "kind": "ALLOCATION_OUT",
            "bucket": "CASH",
            "amount": {"amount": "-40.00"},
            "balanceAfter": {"amount": "60.00"},
            "actorEmail": center.admin.email,
        },
        {
            "kind": "ADJUSTMENT",
            "bucket": "CASH",
            "amount": {"amount": "100.00"},
            "balanceAfter": {"amount": "100.00"},
            "actorEmail": None,
        },
    ]
    assert [e["node"]["amount"] for e in target["wallet"]["transactions"]["edges"]] == [
        {"amount": "40.00"}
    ]


async def test_wallets_of_two_business_centers_do_not_exchange_balance(api, users, funded) -> None:
    center, _ = funded
    other = await create_center(api, center.admin, name="Other")
    variables = transfer_input(center.wallet_id, other.wallet_id, "10.00")
    result = (await api.data(TRANSFER, variables, center.admin.token))["transferBalance"]
    assert (result["code"], result["field"]) == ("INVALID_INPUT", ["input", "toWalletId"])


async def test_jpy_and_kwd_wallets_speak_their_own_decimals(api, users) -> None:
    admin = await users.create("admin")
    for currency, funding, amount in (
        (Currency.JPY, "2000", "1500"),
        (Currency.KWD, "2.000", "1.250"),
    ):
        center = await create_center(api, admin, currency=currency.value)
        account = await create_account(api, center)
        await users.fund(center.wallet_id, funding, currency=currency)
        variables = transfer_input(center.wallet_id, account.wallet_id, amount, currency.value)
        result = (await api.data(TRANSFER, variables, admin.token))["transferBalance"]
        assert result["to"]["balance"]["cash"]["amount"] == amount


async def test_a_wallet_transaction_is_refetchable_by_node_id(api, users, funded) -> None:
    center, account = funded
    await api.data(
        TRANSFER, transfer_input(center.wallet_id, account.wallet_id, "5.00"), center.admin.token
    )
    listed = await api.data(
        "query($id: ID!) { wallet(id: $id) { transactions(first: 1) { edges { node { id kind amount { amount } } } } } }",
        {"id": account.wallet_id},
        center.admin.token,
    )
    node = listed["wallet"]["transactions"]["edges"][0]["node"]
    query = "query($id: ID!) { node(id: $id) { id ... on WalletTransaction { kind amount { amount } } } }"
    assert (await api.data(query, {"id": node["id"]}, center.admin.token))["node"] == node
    stranger = await users.create("stranger")
    assert (await api.data(query, {"id": node["id"]}, stranger.token))["node"] is None


async def test_a_transfer_is_described_by_the_names_the_customer_knows(api, funded) -> None:
    center, account = funded
    await api.data(
        TRANSFER, transfer_input(center.wallet_id, account.wallet_id, "1.00"), center.admin.token
    )
    query = "query($id: ID!) { wallet(id: $id) { transactions(first: 1) { edges { node { description } } } } }"
    data = await api.data(query, {"id": account.wallet_id}, center.admin.token)
    assert (
        data["wallet"]["transactions"]["edges"][0]["node"]["description"]
        == "Transfer from Acme to Account"
    )
