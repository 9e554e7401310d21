from __future__ import annotations

from tests.helpers import TRANSFER, balance, create_account, create_center


async def test_transfer_moves_cash_from_center_to_account(api, users) -> None:
    # given
    admin = await users.create("admin")
    center = await create_center(api, admin)
    account = await create_account(api, center)
    await users.fund(center.wallet_id, "500.00")
    # when
    variables = {
        "input": {
            "fromWalletId": center.wallet_id,
            "toWalletId": account.wallet_id,
            "amount": {"amount": "120.50", "currencyCode": "USD"},
        }
    }
    result = (await api.data(TRANSFER, variables, admin.token))["transferBalance"]
    # then
    assert result["__typename"] == "TransferBalanceSuccess", result
    assert result["from"]["balance"]["cash"]["amount"] == "379.50"
    assert result["to"]["balance"]["cash"]["amount"] == "120.50"
    assert (await balance(api, account.wallet_id, admin.token))["available"]["amount"] == "120.50"
