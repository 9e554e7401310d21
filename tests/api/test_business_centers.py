"""createBusinessCenter, createAdAccount, addBusinessCenterMember, grantVouchers, setCreditLine."""

from __future__ import annotations

import pytest

from tests.helpers import CREATE_ACCOUNT, CREATE_CENTER, balance, create_account, create_center

CENTER = """query($id: ID!) { businessCenter(id: $id) {
  name currencyCode allocationMode allocationModeChangedAt viewerRole members { email role }
  wallet { owner { __typename ... on BusinessCenter { name } } }
  adAccounts { edges { node { name currencyCode billingOption accountType
    businessCenter { name } wallet { currencyCode owner { __typename } } } } } } }"""

CREDIT_LINE = """mutation($input: SetCreditLineInput!) { setCreditLine(input: $input) {
  __typename
  ... on SetCreditLineSuccess { businessCenter { wallet { balance {
    total { amount } creditLineLimit { amount } creditLineUsed { amount } available { amount } } } } }
  ... on CurrencyMismatchError { expected }
  ... on UserError { code field } } }"""

GRANT = """mutation($input: GrantVouchersInput!) { grantVouchers(input: $input) {
  __typename ... on UserError { code field } } }"""


async def test_a_new_business_center_has_its_creator_as_admin_and_an_empty_wallet(
    api, users
) -> None:
    admin = await users.create("admin")
    center = await create_center(api, admin, currency="EUR", name="  Acme   Europe ")
    await create_account(api, center, name="Search", billing="MONTHLY_INVOICING")
    data = (await api.data(CENTER, {"id": center.id}, admin.token))["businessCenter"]
    assert data == {
        "name": "Acme Europe",
        "currencyCode": "EUR",
        "allocationMode": "MANUAL",
        "allocationModeChangedAt": None,
        "viewerRole": "ADMIN",
        "members": [{"email": admin.email, "role": "ADMIN"}],
        "wallet": {"owner": {"__typename": "BusinessCenter", "name": "Acme Europe"}},
        "adAccounts": {
            "edges": [
                {
                    "node": {
                        "name": "Search",
                        "currencyCode": "EUR",
                        "billingOption": "MONTHLY_INVOICING",
                        "accountType": "AUCTION",
                        "businessCenter": {"name": "Acme Europe"},
                        "wallet": {"currencyCode": "EUR", "owner": {"__typename": "AdAccount"}},
                    }
                }
            ]
        },
    }
    assert (await balance(api, center.wallet_id, admin.token))["total"] == {
        "amount": "0.00",
        "currencyCode": "EUR",
    }


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
async def test_a_business_center_needs_a_sensible_name(api, users, name) -> None:
    admin = await users.create("admin")
    variables = {"input": {"name": name, "currencyCode": "USD"}}
    result = (await api.data(CREATE_CENTER, variables, admin.token))["createBusinessCenter"]
    assert (result["code"], result["field"]) == ("INVALID_INPUT", ["input", "name"])
    assert (
        await api.data("{ viewer { businessCenters { edges { cursor } } } }", token=admin.token)
    )["viewer"]["businessCenters"]["edges"] == []


async def test_creating_a_business_center_twice_with_one_key_creates_one(api, users) -> None:
    admin = await users.create("admin")
    variables = {"input": {"name": "Once", "currencyCode": "USD", "idempotencyKey": "bc-1"}}
    first = await api.data(CREATE_CENTER, variables, admin.token)
    second = await api.data(CREATE_CENTER, variables, admin.token)
    assert first == second
    listed = await api.data(
        "{ viewer { businessCenters { edges { cursor } } } }", token=admin.token
    )
    assert len(listed["viewer"]["businessCenters"]["edges"]) == 1


async def test_an_ad_account_needs_a_name(api, users) -> None:
    center = await create_center(api, await users.create("admin"))
    variables = {"input": {"businessCenterId": center.id, "name": "", "billingOption": "PREPAID"}}
    result = (await api.data(CREATE_ACCOUNT, variables, center.admin.token))["createAdAccount"]
    assert (result["code"], result["field"]) == ("INVALID_INPUT", ["input", "name"])


async def test_an_unknown_email_is_invited_and_a_member_twice_is_refused(api, users) -> None:
    """Issue 6 §13: an unknown email no longer answers NOT_FOUND (that told any admin which
    emails have accounts); it is invited like any other."""
    from tests.helpers import ADD_MEMBER

    center = await create_center(api, await users.create("admin"))
    unknown = {
        "input": {"businessCenterId": center.id, "email": "ghost@example.com", "role": "STANDARD"}
    }
    result = (await api.data(ADD_MEMBER, unknown, center.admin.token))["addBusinessCenterMember"]
    assert result["__typename"] == "AddBusinessCenterMemberSuccess"
    assert result["invitation"]["status"] == "PENDING"
    again = {
        "input": {"businessCenterId": center.id, "email": center.admin.email, "role": "STANDARD"}
    }
    result = (await api.data(ADD_MEMBER, again, center.admin.token))["addBusinessCenterMember"]
    assert result["code"] == "INVALID_STATE"


@pytest.fixture
async def staff_and_center(api, users):
    staff = await users.create("billing", staff=True)
    center = await create_center(api, await users.create("admin"))
    return staff, center


async def test_a_credit_line_adds_to_what_the_center_can_spend(api, staff_and_center) -> None:
    staff, center = staff_and_center
    variables = {
        "input": {
            "businessCenterId": center.id,
            "cycle": "TWENTY_EIGHT_DAYS",
            "limit": {"amount": "2500.00", "currencyCode": "USD"},
            "netTermsDays": 45,
        }
    }
    result = (await api.data(CREDIT_LINE, variables, staff.token))["setCreditLine"]
    assert result["businessCenter"]["wallet"]["balance"] == {
        "total": {"amount": "2500.00"},
        "creditLineLimit": {"amount": "2500.00"},
        "creditLineUsed": {"amount": "0.00"},
        "available": {"amount": "2500.00"},
    }


@pytest.mark.parametrize(
    ("limit", "currency", "net_terms", "code", "field"),
    [
        ("-1.00", "USD", 30, "INVALID_INPUT", ["input", "limit", "amount"]),
        ("1.001", "USD", 30, "INVALID_INPUT", ["input", "limit", "amount"]),
        ("100.00", "GBP", 30, "CURRENCY_MISMATCH", ["input", "limit", "currencyCode"]),
        ("100.00", "USD", -1, "INVALID_INPUT", ["input", "netTermsDays"]),
        ("100.00", "USD", 365, "INVALID_INPUT", ["input", "netTermsDays"]),
    ],
)
async def test_a_bad_credit_line_changes_nothing(
    api, staff_and_center, limit, currency, net_terms, code, field
) -> None:
    staff, center = staff_and_center
    variables = {
        "input": {
            "businessCenterId": center.id,
            "cycle": "CALENDAR_MONTH",
            "limit": {"amount": limit, "currencyCode": currency},
            "netTermsDays": net_terms,
        }
    }
    result = (await api.data(CREDIT_LINE, variables, staff.token))["setCreditLine"]
    assert (result["code"], result["field"]) == (code, field)
    assert (await balance(api, center.wallet_id, staff.token))["creditLineLimit"][
        "amount"
    ] == "0.00"


@pytest.mark.parametrize(
    ("amount", "currency", "reason", "code", "field"),
    [
        ("0.00", "USD", "gift", "INVALID_INPUT", ["input", "amount", "amount"]),
        ("5.00", "JPY", "gift", "CURRENCY_MISMATCH", ["input", "amount", "currencyCode"]),
        ("5.00", "USD", "  ", "INVALID_INPUT", ["input", "reason"]),
    ],
)
async def test_a_bad_voucher_grant_changes_nothing(
    api, staff_and_center, amount, currency, reason, code, field
) -> None:
    staff, center = staff_and_center
    variables = {
        "input": {
            "walletId": center.wallet_id,
            "reason": reason,
            "amount": {"amount": amount, "currencyCode": currency},
        }
    }
    result = (await api.data(GRANT, variables, staff.token))["grantVouchers"]
    assert (result["code"], result["field"]) == (code, field)
    assert (await balance(api, center.wallet_id, staff.token))["vouchers"]["amount"] == "0.00"
