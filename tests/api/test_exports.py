"""CSV exports (docs/api.md, "Exports"): `createExport` answers a signed link a browser
opens without a token; `GET /exports/<kind>.csv` also takes the token itself. Who may
read the money may export it; the file is RFC 4180, its texts inert in a spreadsheet."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from sqlalchemy import text

from adledger import clock
from adledger.domain.exports import INVOICE_HEADER, TRANSACTION_HEADER
from adledger.domain.money import Currency, parse_amount
from adledger.schema.ids import db_id_of, to_global_id
from adledger.services import wallets as wallet_service
from tests.helpers import (
    TRANSFER,
    Account,
    Center,
    User,
    add_member,
    create_account,
    create_center,
    subscribe,
    top_up,
)

CREATE_EXPORT = """
mutation($input: CreateExportInput!) {
  createExport(input: $input) {
    __typename
    ... on CreateExportSuccess { url expiresAt }
    ... on UserError { code message field }
  }
}"""

TRANSACTIONS = """
query($id: ID!) { wallet(id: $id) { transactions(first: 100) { edges { node {
  createdAt bucket kind description amount { amount currencyCode } balanceAfter { amount }
  campaign { id } invoice { id }
} } } } }"""

HYPERLINK = '=HYPERLINK("http://evil","x")'


@dataclass
class World:
    center: Center
    account: Account
    analyst: User
    standard: User
    stranger: User

    @property
    def admin(self) -> User:
        return self.center.admin


async def post_cash(sessions, wallet_gid: str, amount: str, description: str) -> None:
    """Cash in with a description of our choosing (finance's adjustments carry theirs)."""
    async with sessions() as session:
        await wallet_service.credit_adjustment(
            session,
            db_id_of(wallet_gid, "Wallet"),
            parse_amount(amount, Currency.USD),
            description,
            None,
        )
        await session.commit()


@pytest.fixture
async def world(api, users, sessions) -> World:
    """A center (its own wallet funded twice, 25.00 moved to its ad account), an analyst and
    a STANDARD member of it, and another customer's admin with a center of their own."""
    admin = await users.create("admin")
    center = await create_center(api, admin)
    account = await create_account(api, center)
    await post_cash(sessions, center.wallet_id, "100.00", HYPERLINK)
    await post_cash(sessions, center.wallet_id, "20.00", 'opening, "as agreed"\r\nline two')
    moved = await api.data(TRANSFER, _transfer(center, account, "25.00"), admin.token)
    assert moved["transferBalance"]["__typename"] == "TransferBalanceSuccess", moved
    analyst, standard = await users.create("analyst"), await users.create("standard")
    await add_member(api, center, analyst, "FINANCE_ANALYST")
    await add_member(api, center, standard, "STANDARD")
    stranger = await users.create("stranger")
    await create_center(api, stranger, name="Other Co")
    return World(center, account, analyst, standard, stranger)


def _transfer(center: Center, account: Account, amount: str) -> dict[str, Any]:
    return {
        "input": {
            "fromWalletId": center.wallet_id,
            "toWalletId": account.wallet_id,
            "amount": {"amount": amount, "currencyCode": "USD"},
        }
    }


def _around_now() -> tuple[str, str]:
    now = clock.now()
    return (now - timedelta(hours=1)).isoformat(), (now + timedelta(hours=1)).isoformat()


def _input(kind: str = "TRANSACTIONS", **scope: str) -> dict[str, Any]:
    start, end = _around_now()
    return {"input": {"kind": kind, "from": start, "to": end, **scope}}


async def create_export(api, token: str, **variables: Any) -> dict[str, Any]:
    return (await api.data(CREATE_EXPORT, variables, token))["createExport"]


async def link(api, token: str, kind: str = "TRANSACTIONS", **scope: str) -> str:
    created = await create_export(api, token, **_input(kind, **scope))
    assert created["__typename"] == "CreateExportSuccess", created
    return str(created["url"])


def around_now(**scope: str) -> dict[str, str]:
    start, end = _around_now()
    return {**scope, "from": start, "to": end}


async def get(api, path: str, token: str | None = None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    query = f"?{urlencode(params)}" if params else ""
    return await api.client.get(f"{path}{query}", headers=headers)


async def download(api, token: str | None, **scope: str) -> Any:
    """The transactions of the hours around now, downloaded with the token."""
    return await get(api, "/exports/transactions.csv", token, **around_now(**scope))


def rows(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


def _tampered(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    params = [(n, value if n == name else v) for n, v in parse_qsl(parts.query)]
    return f"{parts.path}?{urlencode(params)}"


# -- an analyst exports -------------------------------------------------------------------


async def test_an_analyst_downloads_the_wallets_transactions_with_a_token(api, world) -> None:
    # given the center's wallet, and what GraphQL shows of its transactions
    shown = await api.data(TRANSACTIONS, {"id": world.center.wallet_id}, world.admin.token)
    nodes = [edge["node"] for edge in reversed(shown["wallet"]["transactions"]["edges"])]
    # when its analyst downloads the export with its token
    response = await download(api, world.analyst.token, walletId=world.center.wallet_id)
    # then it is a CSV attachment: a header, then one row per transaction, oldest first
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="adledger-transactions-'
    )
    assert response.headers["cache-control"] == "no-store"
    header, *lines = rows(response)
    assert header == list(TRANSACTION_HEADER)
    assert [_as_shown(line) for line in lines] == [
        (
            datetime.fromisoformat(node["createdAt"]),
            world.center.wallet_id,
            node["bucket"],
            node["kind"],
            node["description"],
            node["amount"]["amount"],
            node["amount"]["currencyCode"],
            node["balanceAfter"]["amount"],
        )
        for node in nodes
    ]
    # the rows are the two fundings and the transfer out, its amount signed
    assert [(line[7], line[9]) for line in lines] == [
        ("100.00", "100.00"),
        ("20.00", "120.00"),
        ("-25.00", "95.00"),
    ]


def _as_shown(line: list[str]) -> tuple[Any, ...]:
    """A row as GraphQL would show it (the formula quote taken off)."""
    time, wallet, bucket, kind, description, _, _, amount, currency, after = line
    return (
        datetime.fromisoformat(time),
        wallet,
        bucket,
        kind,
        description.removeprefix("'"),
        amount,
        currency,
        after,
    )


async def test_a_formula_in_a_description_comes_out_inert(api, world) -> None:
    # given a transaction described as =HYPERLINK("http://evil","x")
    # when the wallet is exported
    response = await download(api, world.admin.token, walletId=world.center.wallet_id)
    # then the cell starts with a single quote, quoted as RFC 4180 asks, lines end in CRLF
    raw = response.content.decode()
    assert '"\'=HYPERLINK(""http://evil"",""x"")"' in raw
    assert rows(response)[1][4] == "'" + HYPERLINK
    assert raw.count("\r\n") == 5  # the header, three rows, and the one inside a description
    assert "\n" not in raw.replace("\r\n", "")
    # and a description with a comma, quotes and a line break reads back whole
    assert rows(response)[2][4] == 'opening, "as agreed"\r\nline two'


async def test_a_link_opens_without_a_token_and_gives_the_same_file(api, world) -> None:
    # given the analyst's link to the center's wallet
    before = clock.now()
    created = await create_export(
        api, world.analyst.token, **_input(walletId=world.center.wallet_id)
    )
    assert created["__typename"] == "CreateExportSuccess", created
    # when a browser opens it, with no Authorization
    by_link = await api.client.get(created["url"])
    # then it is the file the token downloads, and the link lives 10 minutes
    by_token = await download(api, world.analyst.token, walletId=world.center.wallet_id)
    assert by_link.status_code == 200, by_link.text
    assert by_link.content == by_token.content
    assert created["url"].startswith("/exports/transactions.csv?walletId=")
    expires_at = datetime.fromisoformat(created["expiresAt"])
    assert before + timedelta(minutes=9) < expires_at <= clock.now() + timedelta(minutes=10)


async def test_a_center_export_holds_every_wallet_of_the_center_in_time_order(api, world) -> None:
    # given the center's wallet and its ad account's, with the transfer between them
    url = await link(api, world.analyst.token, businessCenterId=world.center.id)
    # when the center's export is opened
    response = await api.client.get(url)
    # then both wallets' transactions are there, ordered by time
    lines = rows(response)[1:]
    assert [(line[1], line[7]) for line in lines] == [
        (world.center.wallet_id, "100.00"),
        (world.center.wallet_id, "20.00"),
        (world.center.wallet_id, "-25.00"),
        (world.account.wallet_id, "25.00"),
    ]
    times = [line[0] for line in lines]
    assert times == sorted(times)


async def test_amounts_follow_the_currency_exponent(api, users, sessions) -> None:
    # given a JPY center with 1250 yen
    admin = await users.create("admin")
    center = await create_center(api, admin, currency="JPY")
    await users.fund(center.wallet_id, "1250", Currency.JPY)
    # when it is exported
    response = await download(api, admin.token, walletId=center.wallet_id)
    # then the amount has no decimals
    assert [(line[7], line[8], line[9]) for line in rows(response)[1:]] == [("1250", "JPY", "1250")]


async def test_the_invoices_of_a_center_are_exported(api, users) -> None:
    # given a subscribed center (its plan invoice PAID) with a top-up awaiting payment
    admin = await users.create("admin")
    center = await create_center(api, admin)
    await users.fund(center.wallet_id, "199.00")
    subscribed = await subscribe(api, center)
    topped = await top_up(api, center.wallet_id, admin.token, amount="500.00")
    assert topped["__typename"] == "TopUpWalletSuccess", topped
    # when its invoices are exported
    url = await link(api, admin.token, "INVOICES", businessCenterId=center.id)
    response = await api.client.get(url)
    # then each invoice is a row, in the order they were made
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="adledger-invoices-'
    )
    header, *lines = rows(response)
    assert header == list(INVOICE_HEADER)
    found = [dict(zip(header, line, strict=True)) for line in lines]
    assert [
        (f["number"], f["kind"], f["status"], f["amount_due"], f["currency"], f["wallet_id"])
        for f in found
    ] == [
        (
            subscribed["invoice"]["number"],
            "SUBSCRIPTION",
            "PAID",
            "199.00",
            "USD",
            center.wallet_id,
        ),
        (topped["topUp"]["invoice"]["number"], "TOP_UP", "OPEN", "500.00", "USD", center.wallet_id),
    ]
    assert found[0]["invoice_id"] == subscribed["invoice"]["id"]
    assert found[0]["paid_at"] != "" and found[1]["paid_at"] == ""


async def test_staff_may_export_any_wallet(api, users, world) -> None:
    staff = await users.create("staff", staff=True)

    url = await link(api, staff.token, walletId=world.center.wallet_id)

    assert len(rows(await api.client.get(url))) == 4


# -- who may not --------------------------------------------------------------------------


async def test_a_standard_member_is_refused(api, world) -> None:
    # given a STANDARD member of the center, who may not read its money
    # when they ask for an export, or download one with their token
    created = await create_export(
        api, world.standard.token, **_input(walletId=world.center.wallet_id)
    )
    response = await download(api, world.standard.token, walletId=world.center.wallet_id)
    # then both are FORBIDDEN
    assert (created["__typename"], created["code"], created["field"]) == (
        "ForbiddenError",
        "FORBIDDEN",
        ["input", "walletId"],
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("scope", ["walletId", "businessCenterId", "nothing"])
async def test_another_customers_admin_is_told_not_found(api, world, scope) -> None:
    # given the admin of another center, and ids of the center's, or of nothing
    ids = {
        "walletId": world.center.wallet_id,
        "businessCenterId": world.center.id,
        "nothing": to_global_id("Wallet", 999_999),
    }
    name = "walletId" if scope == "nothing" else scope
    # when they ask for its export, or download it with their token
    created = await create_export(api, world.stranger.token, **_input(**{name: ids[scope]}))
    response = await download(api, world.stranger.token, **{name: ids[scope]})
    # then it is NOT_FOUND, worded as for an id of nothing
    what = "business center" if name == "businessCenterId" else "wallet"
    assert created == {
        "__typename": "NotFoundError",
        "code": "NOT_FOUND",
        "message": f"no {what} has this id",
        "field": ["input", name],
    }
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "NOT_FOUND", "message": f"no {what} has this id", "field": [name]}
    }


async def test_a_download_without_a_valid_token_is_unauthenticated(api, world) -> None:
    params = around_now(walletId=world.center.wallet_id)

    missing = await get(api, "/exports/transactions.csv", None, **params)
    wrong = await get(api, "/exports/transactions.csv", "adl_not-a-token", **params)

    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "UNAUTHENTICATED")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "INVALID_TOKEN")
    assert missing.headers["www-authenticate"] == "Bearer"


async def test_the_integration_token_may_not_download(api, users, world) -> None:
    adserver = await users.create("adserver", integration=True)

    response = await download(api, adserver.token, walletId=world.center.wallet_id)

    assert (response.status_code, response.json()["error"]["code"]) == (403, "FORBIDDEN")


# -- links that are not what was made -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("to", "2999-01-01T00:00:00.000000Z"),
        ("from", "2000-01-01T00:00:00.000000Z"),
        ("user", "1"),
        ("expires", "32503680000"),
        ("sig", "0" * 64),
    ],
)
async def test_a_tampered_link_is_not_found(api, world, name, value) -> None:
    # given the analyst's link
    url = await link(api, world.analyst.token, walletId=world.center.wallet_id)
    # when one of its parameters is changed
    response = await api.client.get(_tampered(url, name, value))
    # then there is no such export
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_a_link_to_another_wallet_or_with_a_parameter_added_is_not_found(api, world) -> None:
    url = await link(api, world.analyst.token, walletId=world.center.wallet_id)

    other_wallet = await api.client.get(_tampered(url, "walletId", world.account.wallet_id))
    added = await api.client.get(f"{url}&businessCenterId={world.center.id}")
    other_kind = await api.client.get(url.replace("transactions.csv", "invoices.csv"))

    assert [r.status_code for r in (other_wallet, added, other_kind)] == [404, 404, 404]


async def test_a_link_expires_after_ten_minutes(api, world, time_travel) -> None:
    # given a link made now
    url = await link(api, world.analyst.token, walletId=world.center.wallet_id)
    # when it is opened 9 minutes later, then 10 minutes and a second later
    time_travel.by(timedelta(minutes=9))
    fresh = await api.client.get(url)
    time_travel.by(timedelta(minutes=1, seconds=1))
    expired = await api.client.get(url)
    # then it worked, then it is not found
    assert fresh.status_code == 200
    assert (expired.status_code, expired.json()["error"]["code"]) == (404, "NOT_FOUND")


async def test_a_link_stops_working_once_its_user_may_no_longer_read(api, world, sessions) -> None:
    # given the analyst's link, and the analyst then removed from the center
    url = await link(api, world.analyst.token, walletId=world.center.wallet_id)
    analyst_id = await _user_id(sessions, world.analyst.email)
    async with sessions() as session:
        await session.execute(
            text("DELETE FROM memberships WHERE user_id = :id"), {"id": analyst_id}
        )
        await session.commit()
    # when the link is opened
    response = await api.client.get(url)
    # then the wallet is not found for them any more
    assert response.status_code == 404


async def _user_id(sessions, email: str) -> int:
    async with sessions() as session:
        found = await session.scalar(text("SELECT id FROM users WHERE email = :e"), {"e": email})
    assert found is not None
    return int(found)


# -- arguments ----------------------------------------------------------------------------


def _at(base: datetime, hours: float) -> str:
    return (base + timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(
    ("kind", "scope", "start", "end", "field", "words"),
    [
        ("TRANSACTIONS", ("walletId", "businessCenterId"), -1, 1, "businessCenterId", "not both"),
        ("TRANSACTIONS", (), -1, 1, "walletId", "give walletId"),
        ("INVOICES", ("walletId",), -1, 1, "walletId", "per business center"),
        ("TRANSACTIONS", ("walletId",), 1, -1, "to", "to must be after from"),
        ("TRANSACTIONS", ("walletId",), 1, 1, "to", "to must be after from"),
        ("TRANSACTIONS", ("walletId",), -1, 24 * 400, "to", "at most 13 months"),
    ],
)
async def test_bad_arguments_are_invalid_input_naming_the_field(
    api, world, kind, scope, start, end, field, words
) -> None:
    # given arguments an export cannot take
    ids = {"walletId": world.center.wallet_id, "businessCenterId": world.center.id}
    given = {name: ids[name] for name in scope}
    now = clock.now()
    instants = {"from": _at(now, start), "to": _at(now, end)}
    variables = {"input": {"kind": kind, **instants, **given}}
    path = f"/exports/{kind.lower()}.csv"
    # when createExport is asked, and the file downloaded with them
    created = await create_export(api, world.admin.token, **variables)
    response = await get(api, path, world.admin.token, **given, **instants)
    # then both refuse them, naming the field
    assert (created["__typename"], created["code"], created["field"]) == (
        "InvalidInputError",
        "INVALID_INPUT",
        ["input", field],
    )
    assert words in created["message"]
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "INVALID_INPUT", "message": created["message"], "field": [field]}
    }


async def test_an_instant_without_an_offset_is_invalid_input(api, world) -> None:
    naive = clock.now().replace(tzinfo=None).isoformat()
    variables = _input(walletId=world.center.wallet_id)
    variables["input"]["from"] = naive

    created = await create_export(api, world.admin.token, **variables)

    assert (created["code"], created["field"]) == ("INVALID_INPUT", ["input", "from"])


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("from=2026-01-01T00:00:00Z", "to", "to is required"),
        ("from=yesterday&to=2026-01-01T00:00:00Z", "from", "not an ISO 8601 instant"),
        ("from=2026-01-01T00:00:00+01:00&to=2026-01-02T00:00:00Z", "from", "%2B"),
        ("from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&format=xlsx", "format", "unknown"),
        (
            "from=2026-01-01T00:00:00Z&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
            "from",
            "more than once",
        ),
        (f"from={'9' * 201}&to=2026-01-02T00:00:00Z", "from", "longer than 200"),
    ],
)
async def test_a_download_with_bad_parameters_is_a_400_naming_it(
    api, world, query, field, words
) -> None:
    response = await api.client.get(
        f"/exports/transactions.csv?walletId={world.center.wallet_id}&{query}",
        headers={"Authorization": f"Bearer {world.admin.token}"},
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", [field])
    assert words in error["message"]


# -- at most 10 exports a minute ----------------------------------------------------------


async def test_the_eleventh_export_in_a_minute_is_rate_limited(api, world) -> None:
    # given ten exports by the analyst: seven links and three downloads with the token
    for _ in range(7):
        await link(api, world.analyst.token, walletId=world.center.wallet_id)
    params = around_now(walletId=world.center.wallet_id)
    for _ in range(3):
        ok = await get(api, "/exports/transactions.csv", world.analyst.token, **params)
        assert ok.status_code == 200
    # when an eleventh is asked, by createExport and by a download
    response = await api.client.post(
        "/graphql",
        json={"query": CREATE_EXPORT, "variables": _input(walletId=world.center.wallet_id)},
        headers={"Authorization": f"Bearer {world.analyst.token}"},
    )
    refused = await get(api, "/exports/transactions.csv", world.analyst.token, **params)
    # then both are refused RATE_LIMITED with when to try again
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["limit"] == 10
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_links_already_made_still_open_past_the_limit(api, world) -> None:
    # given ten links made in a minute
    urls = [
        await link(api, world.analyst.token, walletId=world.center.wallet_id) for _ in range(10)
    ]
    # when each is opened
    statuses = [(await api.client.get(url)).status_code for url in urls]
    # then every one opens: opening a link is not another export
    assert statuses == [200] * 10
    # and another member's allowance is their own
    assert (await create_export(api, world.admin.token, **_input(walletId=world.center.wallet_id)))[
        "__typename"
    ] == "CreateExportSuccess"
