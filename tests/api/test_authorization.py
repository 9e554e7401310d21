"""Every entry point, tried by a stranger, by roles that may not, and without a token."""

from __future__ import annotations

import pytest

from tests.helpers import add_member, create_account, create_center

QUERIES = {
    "businessCenter": "query($id: ID!) { businessCenter(id: $id) { id name } }",
    "adAccount": "query($id: ID!) { adAccount(id: $id) { id name } }",
    "wallet": "query($id: ID!) { wallet(id: $id) { id } }",
    "node": "query($id: ID!) { node(id: $id) { id } }",
}

MUTATIONS = {
    "createAdAccount": (
        "mutation($c: ID!) { createAdAccount(input: {businessCenterId: $c, "
        'name: "X", billingOption: PREPAID}) { __typename ... on UserError { code } } }'
    ),
    "transferBalance": (
        "mutation($w: ID!, $a: ID!) { transferBalance(input: {fromWalletId: $w, "
        'toWalletId: $a, amount: {amount: "1.00", currencyCode: USD}}) '
        "{ __typename ... on UserError { code } } }"
    ),
    "grantVouchers": (
        "mutation($w: ID!) { grantVouchers(input: {walletId: $w, "
        'reason: "gift", amount: {amount: "1.00", currencyCode: USD}}) '
        "{ __typename ... on UserError { code } } }"
    ),
    "setCreditLine": (
        "mutation($c: ID!) { setCreditLine(input: {businessCenterId: $c, "
        'cycle: CALENDAR_MONTH, limit: {amount: "1000.00", currencyCode: USD}}) '
        "{ __typename ... on UserError { code } } }"
    ),
    "addBusinessCenterMember": (
        "mutation($c: ID!) { addBusinessCenterMember(input: "
        '{businessCenterId: $c, email: "nobody@example.com", role: ADMIN}) '
        "{ __typename ... on UserError { code } } }"
    ),
}


@pytest.fixture
async def world(api, users):
    admin = await users.create("admin")
    center = await create_center(api, admin)
    account = await create_account(api, center)
    await users.fund(center.wallet_id, "10.00")
    stranger = await create_center(api, await users.create("stranger"), name="Stranger Inc")
    roles = {}
    for role in ("FINANCE_MANAGER", "FINANCE_ANALYST", "STANDARD"):
        roles[role] = await users.create(role.lower())
        await add_member(api, center, roles[role], role)
    ids = {"c": center.id, "w": center.wallet_id, "a": account.wallet_id}
    return {
        "center": center,
        "account": account,
        "stranger": stranger.admin,
        "roles": roles,
        "ids": ids,
        "staff": await users.create("staff", staff=True),
    }


def _vars(world, name: str) -> dict[str, str]:
    """Only the variables the mutation declares: GraphQL refuses unused ones."""
    return {k: v for k, v in world["ids"].items() if f"${k}:" in MUTATIONS[name]}


def _query_ids(world) -> dict[str, str]:
    return {
        "businessCenter": world["center"].id,
        "adAccount": world["account"].id,
        "wallet": world["center"].wallet_id,
        "node": world["center"].wallet_id,
    }


@pytest.mark.parametrize("name", sorted(QUERIES))
async def test_a_stranger_sees_nothing_of_another_customer(api, world, name) -> None:
    data = await api.data(QUERIES[name], {"id": _query_ids(world)[name]}, world["stranger"].token)
    assert data == {name: None}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
async def test_a_stranger_is_told_not_found_or_staff_only(api, world, name) -> None:
    result = (await api.data(MUTATIONS[name], _vars(world, name), world["stranger"].token))[name]
    expected = "ForbiddenError" if name in ("grantVouchers", "setCreditLine") else "NotFoundError"
    assert result["__typename"] == expected


@pytest.mark.parametrize(
    ("role", "name", "allowed"),
    [
        ("FINANCE_MANAGER", "transferBalance", True),
        ("FINANCE_MANAGER", "createAdAccount", False),
        ("FINANCE_MANAGER", "addBusinessCenterMember", False),
        ("FINANCE_ANALYST", "transferBalance", False),
        ("FINANCE_ANALYST", "createAdAccount", False),
        ("STANDARD", "transferBalance", False),
        ("STANDARD", "createAdAccount", False),
        ("STANDARD", "addBusinessCenterMember", False),
        ("FINANCE_MANAGER", "grantVouchers", False),
        ("FINANCE_MANAGER", "setCreditLine", False),
    ],
)
async def test_roles_may_only_do_what_design_allows(api, world, role, name, allowed) -> None:
    result = (await api.data(MUTATIONS[name], _vars(world, name), world["roles"][role].token))[name]
    assert (result["__typename"] != "ForbiddenError") is allowed, result
    if not allowed:
        assert result["code"] == "FORBIDDEN"


@pytest.mark.parametrize("role", ["FINANCE_ANALYST", "STANDARD"])
async def test_reading_money_needs_a_finance_role(api, world, role) -> None:
    query = """query($id: ID!) { wallet(id: $id) { id balance { available { amount } } } }"""
    body = await api.post(query, {"id": world["center"].wallet_id}, world["roles"][role].token)
    if role == "FINANCE_ANALYST":
        assert body["data"]["wallet"]["balance"]["available"]["amount"] == "10.00"
    else:
        assert body["data"] == {"wallet": None}
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_standard_member_still_sees_the_business_center(api, world) -> None:
    query = "query($id: ID!) { businessCenter(id: $id) { name viewerRole members { role } } }"
    data = await api.data(query, {"id": world["center"].id}, world["roles"]["STANDARD"].token)
    assert data["businessCenter"]["viewerRole"] == "STANDARD"
    assert len(data["businessCenter"]["members"]) == 4


async def test_staff_read_any_customer_and_grant_vouchers(api, world) -> None:
    staff = world["staff"].token
    data = await api.data(QUERIES["wallet"], {"id": world["center"].wallet_id}, staff)
    assert data["wallet"]["id"] == world["center"].wallet_id
    result = (await api.data(MUTATIONS["grantVouchers"], _vars(world, "grantVouchers"), staff))[
        "grantVouchers"
    ]
    assert result["__typename"] == "GrantVouchersSuccess"


async def test_staff_may_not_move_customer_money_between_wallets(api, world) -> None:
    staff = world["staff"].token
    result = (await api.data(MUTATIONS["transferBalance"], _vars(world, "transferBalance"), staff))[
        "transferBalance"
    ]
    assert result["code"] == "FORBIDDEN"


@pytest.mark.parametrize("name", sorted(QUERIES))
async def test_without_a_token_every_query_field_errors(api, world, name) -> None:
    body = await api.post(QUERIES[name], {"id": _query_ids(world)[name]})
    assert body["data"] == {name: None}
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("name", sorted(MUTATIONS))
async def test_without_a_token_every_mutation_errors(api, world, name) -> None:
    body = await api.post(MUTATIONS[name], _vars(world, name))
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_unknown_token_is_an_invalid_token(api, world) -> None:
    body = await api.post("{ viewer { email } }", token="adl_not-a-real-token")
    assert body["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"


async def test_introspection_needs_no_token(api) -> None:
    body = await api.post("{ __schema { queryType { name } } }")
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_viewer_lists_only_the_callers_business_centers(api, world) -> None:
    query = "{ viewer { email isStaff businessCenters { edges { node { name } } } } }"
    mine = await api.data(query, token=world["roles"]["STANDARD"].token)
    assert [e["node"]["name"] for e in mine["viewer"]["businessCenters"]["edges"]] == ["Acme"]
    everything = await api.data(query, token=world["staff"].token)
    assert everything["viewer"]["isStaff"] is True
    assert len(everything["viewer"]["businessCenters"]["edges"]) == 2
