"""Hostile text in arguments: non-ASCII digits in amounts and ids, NUL characters, lone
surrogates, overlong strings. Each is a typed error and changes nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLScalarType,
    get_nullable_type,
    is_non_null_type,
)

from adledger.resolvers.root import build_schema
from tests.helpers import (
    ADD_MEMBER,
    CREATE_CENTER,
    TRANSFER,
    create_account,
    create_center,
    subscribe,
    top_up,
)

ARABIC_INDIC = "\u0661\u0660\u0660.\u0660\u0660"  # 100.00 in Arabic-Indic digits
FULLWIDTH = "\uff11\uff10.\uff10\uff10"  # 10.00 in fullwidth digits
UNICODE_AMOUNTS = [ARABIC_INDIC, FULLWIDTH, "1\u0660.00", "10.0\u0660"]

GRANT = """mutation($input: GrantVouchersInput!) { grantVouchers(input: $input) {
  __typename ... on UserError { code message field } } }"""
CENTERS = "{ viewer { businessCenters { edges { node { name } } } } }"
WALLET = """query($id: ID!) { wallet(id: $id) {
  balance { cash { amount } vouchers { amount } } pendingTopUps { id } } }"""


def global_id(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
async def funded(api, users):
    """A center on the PRO plan with 200.00 left, and an ad account with nothing."""
    center = await create_center(api, await users.create("admin"))
    account = await create_account(api, center)
    await users.fund(center.wallet_id, "399.00")
    assert (await subscribe(api, center))["__typename"] == "SubscribeToPlanSuccess"
    return center, account


async def _state(api, center, account) -> list[dict]:
    token = center.admin.token
    return [
        (await api.data(WALLET, {"id": wallet_id}, token))["wallet"]
        for wallet_id in (center.wallet_id, account.wallet_id)
    ]


def _money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "USD"}


# -- amounts -------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", UNICODE_AMOUNTS)
async def test_a_transfer_of_unicode_digits_is_invalid_input(api, funded, amount) -> None:
    # given a funded center
    center, account = funded
    before = await _state(api, center, account)
    # when it transfers an amount written in other digits
    variables = {
        "input": {
            "fromWalletId": center.wallet_id,
            "toWalletId": account.wallet_id,
            "amount": _money(amount),
        }
    }
    result = (await api.data(TRANSFER, variables, center.admin.token))["transferBalance"]
    # then nothing is booked
    assert result["__typename"] == "InvalidInputError", result
    assert result["field"] == ["input", "amount", "amount"]
    assert await _state(api, center, account) == before


@pytest.mark.parametrize("amount", UNICODE_AMOUNTS)
async def test_a_top_up_of_unicode_digits_is_invalid_input(api, funded, amount) -> None:
    center, account = funded
    before = await _state(api, center, account)
    result = await top_up(api, center.wallet_id, center.admin.token, amount=amount)
    assert result["__typename"] == "InvalidInputError", result
    assert result["field"] == ["input", "amount", "amount"]
    target = await top_up(api, center.wallet_id, center.admin.token, target=amount)
    assert target["__typename"] == "InvalidInputError", target
    assert target["field"] == ["input", "targetBalance", "amount"]
    assert await _state(api, center, account) == before


@pytest.mark.parametrize("amount", UNICODE_AMOUNTS)
async def test_vouchers_of_unicode_digits_are_invalid_input(api, users, funded, amount) -> None:
    center, account = funded
    staff = await users.create("staff", staff=True)
    before = await _state(api, center, account)
    variables = {
        "input": {"walletId": center.wallet_id, "amount": _money(amount), "reason": "goodwill"}
    }
    result = (await api.data(GRANT, variables, staff.token))["grantVouchers"]
    assert result["__typename"] == "InvalidInputError", result
    assert result["field"] == ["input", "amount", "amount"]
    assert await _state(api, center, account) == before


# -- ids and cursors -----------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["Wallet:²", "Wallet:\u0661", "Wallet:\uff11"])
async def test_an_id_of_unicode_digits_is_not_found(api, funded, raw) -> None:
    # given wallet 1 exists (the center's) and an id whose digits are not ASCII
    center, account = funded
    assert center.wallet_id == global_id("Wallet:1")
    before = await _state(api, center, account)
    token = center.admin.token
    # when a mutation and the queries take it
    variables = {
        "input": {
            "fromWalletId": global_id(raw),
            "toWalletId": account.wallet_id,
            "amount": _money("1.00"),
        }
    }
    result = (await api.data(TRANSFER, variables, token))["transferBalance"]
    wallet = await api.data(
        "query($id: ID!) { wallet(id: $id) { id } }", {"id": global_id(raw)}, token
    )
    node = await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": global_id(raw)}, token)
    # then nothing is found and nothing moves
    assert (result["__typename"], result["field"]) == ("NotFoundError", ["input", "fromWalletId"])
    assert wallet == {"wallet": None}
    assert node == {"node": None}
    assert await _state(api, center, account) == before
    # and a NUL in a query's id finds nothing either (as before)
    for query in ("wallet", "node", "businessCenter", "invoice"):
        document = f"query($id: ID!) {{ {query}(id: $id) {{ id }} }}"
        data = await api.data(document, {"id": center.wallet_id + "\x00"}, token)
        assert data == {query: None}


@pytest.mark.parametrize("raw", ["cursor:\u0661", "cursor:\uff11\uff10"])
async def test_a_cursor_that_is_not_ours_is_a_clean_error(api, funded, raw) -> None:
    center, _ = funded
    cursor = global_id(raw)
    body = await api.post(
        "query($after: String) { viewer { businessCenters(after: $after) { edges { cursor } } } }",
        {"after": cursor},
        center.admin.token,
    )
    [error] = body["errors"]
    assert error["message"] == "`after` is not a cursor"
    assert error["extensions"] == {"code": "INVALID_INPUT"}


# -- NUL, lone surrogates, length -----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "Acme\x00Corp", "input.name may not contain the NUL character (U+0000)"),
        ("name", "\ud800", "input.name is not valid Unicode text"),
        ("name", "A" * 10_001, "input.name is longer than 10000 characters"),
        (
            "idempotencyKey",
            "key\x00",
            "input.idempotencyKey may not contain the NUL character (U+0000)",
        ),
    ],
)
async def test_bad_text_in_create_business_center_is_invalid_input(
    api, users, field, value, message
) -> None:
    # given a user
    user = await users.create()
    # when it creates a center with text PostgreSQL could not store
    variables = {"input": {"name": "Acme", "currencyCode": "USD", field: value}}
    # JSON escapes every non-ASCII character, so a lone surrogate can be sent at all
    body = json.dumps({"query": CREATE_CENTER, "variables": variables})
    response = await api.client.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {user.token}", "Content-Type": "application/json"},
    )
    result = response.json()["data"]["createBusinessCenter"]
    # then the field is named and nothing is created
    assert result == {
        "__typename": "InvalidInputError",
        "code": "INVALID_INPUT",
        "message": message,
        "field": ["input", field],
    }
    assert (await api.data(CENTERS, None, user.token))["viewer"]["businessCenters"] == {"edges": []}


async def test_nul_in_an_email_is_invalid_input(api, users) -> None:
    center = await create_center(api, await users.create("admin"))
    member = await users.create("member")
    variables = {
        "input": {"businessCenterId": center.id, "email": member.email + "\x00", "role": "STANDARD"}
    }
    result = (await api.data(ADD_MEMBER, variables, center.admin.token))["addBusinessCenterMember"]
    assert result == {
        "__typename": "InvalidInputError",
        "code": "INVALID_INPUT",
        "message": "input.email may not contain the NUL character (U+0000)",
        "field": ["input", "email"],
    }
    assert (await api.data(CENTERS, None, member.token))["viewer"]["businessCenters"] == {
        "edges": []
    }


async def test_an_overlong_email_is_invalid_input_before_any_lookup(api, users) -> None:
    center = await create_center(api, await users.create("admin"))
    variables = {
        "input": {"businessCenterId": center.id, "email": "a" * 400 + "@x.io", "role": "STANDARD"}
    }
    result = (await api.data(ADD_MEMBER, variables, center.admin.token))["addBusinessCenterMember"]
    assert (result["__typename"], result["field"]) == ("InvalidInputError", ["input", "email"])


@pytest.mark.parametrize(
    ("path", "variables"),
    [
        (["input", "fromWalletId"], {"fromWalletId": "V2FsbGV0OjE=\x00"}),
        (["input", "idempotencyKey"], {"idempotencyKey": "\x00"}),
    ],
)
async def test_nul_anywhere_in_a_transfer_is_invalid_input(api, funded, path, variables) -> None:
    center, account = funded
    before = await _state(api, center, account)
    transfer = {
        "fromWalletId": center.wallet_id,
        "toWalletId": account.wallet_id,
        "amount": _money("1.00"),
        **variables,
    }
    result = (await api.data(TRANSFER, {"input": transfer}, center.admin.token))["transferBalance"]
    assert (result["__typename"], result["field"]) == ("InvalidInputError", path)
    assert await _state(api, center, account) == before


# -- every mutation, including those added later -------------------------------------------


def _sample(type_: GraphQLInputType) -> object:
    """A value of the type: texts "x", enums their first value, objects their required
    fields and every field holding text."""
    type_ = get_nullable_type(type_)
    if isinstance(type_, GraphQLList):
        return [_sample(type_.of_type)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {
            name: _sample(field.type)
            for name, field in type_.fields.items()
            if is_non_null_type(field.type) or _texts(field.type)
        }
    samples = {
        "Int": 1,
        "Boolean": True,
        "Decimal": "1.00",
        "DateTime": "2026-11-22T10:00:00+00:00",
    }
    return samples.get(type_.name, "x")


def _texts(type_: GraphQLInputType, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of every String, ID and Decimal the type holds (lists: their first item)."""
    type_ = get_nullable_type(type_)
    if isinstance(type_, GraphQLList):
        return _texts(type_.of_type, (*path, "0"))
    if isinstance(type_, GraphQLInputObjectType):
        return [
            p for name, field in type_.fields.items() for p in _texts(field.type, (*path, name))
        ]
    if isinstance(type_, GraphQLScalarType) and type_.name in ("String", "ID", "Decimal"):
        return [path]
    return []


SCHEMA = build_schema()._schema
MUTATIONS = sorted(SCHEMA.mutation_type.fields) if SCHEMA.mutation_type else []


@pytest.mark.parametrize("name", MUTATIONS)
async def test_nul_in_any_text_of_any_mutation_is_invalid_input(api, name) -> None:
    field = SCHEMA.mutation_type.fields[name]
    declared = ", ".join(f"${arg}: {field.args[arg].type}" for arg in field.args)
    passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    query = (
        f"mutation({declared}) {{ {name}({passed}) {{ __typename "
        "... on UserError { code message field } } }"
    )
    paths = [(arg, *p) for arg, a in field.args.items() for p in _texts(a.type, ())]
    assert paths, f"{name} takes no text"
    for path in paths:
        variables = {arg: _sample(a.type) for arg, a in field.args.items()}
        holder: Any = variables
        for key in path[:-1]:
            holder = holder[int(key)] if isinstance(holder, list) else holder[key]
        last = path[-1]
        holder[int(last) if isinstance(holder, list) else last] = "x\x00"  # a list of texts
        body = await api.post(query, variables)
        graphql_path = list(path)
        if body.get("data") and body["data"][name]["__typename"] == "InvalidInputError":
            assert body["data"][name]["field"] == graphql_path, (name, body)
        else:
            [error] = body["errors"]
            assert error["extensions"] == {"code": "INVALID_INPUT", "field": graphql_path}
