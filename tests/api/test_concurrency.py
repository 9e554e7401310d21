"""Many simultaneous requests against one balance: no overdraft, one effect per key."""

from __future__ import annotations

import asyncio

from adledger.services.verify import verify_ledger
from tests.helpers import TRANSFER, balance, create_account, create_center


def _transfer(source: str, target: str, amount: str, key: str | None = None) -> dict[str, object]:
    payload: dict[str, object] = {
        "fromWalletId": source,
        "toWalletId": target,
        "amount": {"amount": amount, "currencyCode": "USD"},
    }
    if key is not None:
        payload["idempotencyKey"] = key
    return {"input": payload}


async def test_fifty_concurrent_transfers_never_overdraw(api, users, sessions) -> None:
    # given a wallet of 100.00 and 50 transfers of 7.00 (350.00 asked in all)
    admin = await users.create("admin")
    center = await create_center(api, admin)
    accounts = [await create_account(api, center, name=f"A{i}") for i in range(5)]
    await users.fund(center.wallet_id, "100.00")
    requests = [
        api.data(
            TRANSFER, _transfer(center.wallet_id, accounts[i % 5].wallet_id, "7.00"), admin.token
        )
        for i in range(50)
    ]
    # when
    results = [r["transferBalance"] for r in await asyncio.gather(*requests)]
    # then
    successes = [r for r in results if r["__typename"] == "TransferBalanceSuccess"]
    refusals = [r for r in results if r["__typename"] == "InsufficientFundsError"]
    assert len(successes) == 14 and len(refusals) == 36
    left = await balance(api, center.wallet_id, admin.token)
    assert left["cash"]["amount"] == "2.00"
    received = [await balance(api, a.wallet_id, admin.token) for a in accounts]
    assert sum(int(b["cash"]["amount"].replace(".", "")) for b in received) == 9800
    async with sessions() as session:
        assert await verify_ledger(session) == []


async def test_twenty_concurrent_retries_with_one_key_have_one_effect(api, users) -> None:
    # given
    admin = await users.create("admin")
    center = await create_center(api, admin)
    account = await create_account(api, center)
    await users.fund(center.wallet_id, "100.00")
    variables = _transfer(center.wallet_id, account.wallet_id, "30.00", key="pay-once-1")
    # when
    answers = await asyncio.gather(*(api.data(TRANSFER, variables, admin.token) for _ in range(20)))
    # then
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["transferBalance"]["__typename"] == "TransferBalanceSuccess"
    assert (await balance(api, center.wallet_id, admin.token))["cash"]["amount"] == "70.00"
    assert (await balance(api, account.wallet_id, admin.token))["cash"]["amount"] == "30.00"


async def test_a_key_reused_with_another_input_is_refused(api, users) -> None:
    admin = await users.create("admin")
    center = await create_center(api, admin)
    account = await create_account(api, center)
    await users.fund(center.wallet_id, "100.00")
    first = _transfer(center.wallet_id, account.wallet_id, "30.00", key="k-1")
    second = _transfer(center.wallet_id, account.wallet_id, "31.00", key="k-1")
    await api.data(TRANSFER, first, admin.token)
    result = (await api.data(TRANSFER, second, admin.token))["transferBalance"]
    assert (result["code"], result["field"]) == (
        "IDEMPOTENCY_KEY_REUSED",
        ["input", "idempotencyKey"],
    )
    assert (await balance(api, center.wallet_id, admin.token))["cash"]["amount"] == "70.00"


async def test_a_failed_keyed_request_leaves_the_key_free_for_a_retry(api, users) -> None:
    admin = await users.create("admin")
    center = await create_center(api, admin)
    account = await create_account(api, center)
    variables = _transfer(center.wallet_id, account.wallet_id, "30.00", key="k-2")
    refused = (await api.data(TRANSFER, variables, admin.token))["transferBalance"]
    assert refused["__typename"] == "InsufficientFundsError"
    await users.fund(center.wallet_id, "50.00")
    retried = (await api.data(TRANSFER, variables, admin.token))["transferBalance"]
    assert retried["__typename"] == "TransferBalanceSuccess"


async def test_keys_belong_to_their_caller(api, users) -> None:
    admin = await users.create("admin")
    center = await create_center(api, admin, name="One")
    other_admin = await users.create("other")
    other = await create_center(api, other_admin, name="Two")
    first = {"input": {"name": "Mine", "currencyCode": "USD", "idempotencyKey": "same"}}
    mutation = "mutation($input: CreateBusinessCenterInput!) { createBusinessCenter(input: $input) { __typename } }"
    assert (await api.data(mutation, first, admin.token))["createBusinessCenter"][
        "__typename"
    ] == "CreateBusinessCenterSuccess"
    assert (await api.data(mutation, first, other_admin.token))["createBusinessCenter"][
        "__typename"
    ] == "CreateBusinessCenterSuccess"
    assert center.id != other.id
