"""A page of N objects with their relations costs the same statements as a page of 1."""

from __future__ import annotations

from adledger.domain.ad_accounts import AdAccountType, BillingOption
from adledger.domain.money import Currency, Money
from adledger.schema.ids import db_id_of
from adledger.services import business_centers as center_service
from adledger.services import wallets as wallet_service
from adledger.services.users import authenticate
from tests.helpers import create_center

PAGE = """
query($id: ID!, $first: Int!) {
  businessCenter(id: $id) {
    name
    wallet { balance { available { amount } } }
    adAccounts(first: $first) {
      pageInfo { hasNextPage endCursor }
      edges { node {
        id name currencyCode billingOption
        businessCenter { name viewerRole }
        availableToSpend { amount }
        wallet {
          id
          owner { __typename ... on AdAccount { name } }
          balance { total { amount } cash { amount } vouchers { amount } held { amount } available { amount } }
          transactions(first: 5) { edges { node { kind amount { amount } actorEmail } } }
        }
      } }
    }
  }
}"""


async def _add_accounts(sessions, center, count: int) -> None:
    center_id = db_id_of(center.id, "BusinessCenter")
    async with sessions() as session:
        actor = await authenticate(session, center.admin.token)
        for index in range(count):
            outcome = await center_service.create_ad_account(
                session,
                actor,
                center_id,
                f"Account {index}",
                BillingOption.PREPAID,
                AdAccountType.AUCTION,
            )
            wallet = (
                await wallet_service.repo.wallets_of_ad_accounts(session, [outcome.ad_account_id])
            )[0]
            await wallet_service.credit_adjustment(
                session, wallet.id, Money(100 + index, Currency.USD), "funding", None
            )
        await session.commit()


async def _count(api, statements, center, first: int) -> tuple[int, dict]:
    # The caller was just seen: what the app keeps of a recent caller (its token's actor)
    # is kept for every count alike, however long the seeding took.
    await api.data("{ viewer { email } }", token=center.admin.token)
    statements.count = 0
    data = await api.data(PAGE, {"id": center.id, "first": first}, center.admin.token)
    return statements.count, data


async def test_a_page_of_100_costs_what_a_page_of_1_costs(api, users, sessions, statements) -> None:
    # given 120 funded ad accounts
    center = await create_center(api, await users.create("admin"))
    await _add_accounts(sessions, center, 120)
    # when
    one, page_of_one = await _count(api, statements, center, 1)
    hundred, page_of_hundred = await _count(api, statements, center, 100)
    # then
    assert one == hundred, statements.statements
    edges = page_of_hundred["businessCenter"]["adAccounts"]["edges"]
    assert len(edges) == 100
    assert page_of_hundred["businessCenter"]["adAccounts"]["pageInfo"]["hasNextPage"] is True
    assert edges[99]["node"]["wallet"]["balance"]["cash"] == {"amount": "1.99"}
    assert edges[0]["node"]["availableToSpend"] == {"amount": "1.00"}
    assert len(page_of_one["businessCenter"]["adAccounts"]["edges"]) == 1


async def test_pages_follow_the_cursor_without_gaps_or_repeats(api, users, sessions) -> None:
    center = await create_center(api, await users.create("admin"))
    await _add_accounts(sessions, center, 7)
    query = """query($id: ID!, $after: String) { businessCenter(id: $id) {
      adAccounts(first: 3, after: $after) { pageInfo { hasNextPage endCursor } edges { node { name } } } } }"""
    names, after = [], None
    for _ in range(3):
        page = await api.data(query, {"id": center.id, "after": after}, center.admin.token)
        connection = page["businessCenter"]["adAccounts"]
        names += [e["node"]["name"] for e in connection["edges"]]
        after = connection["pageInfo"]["endCursor"]
    assert names == [f"Account {i}" for i in range(7)]
    assert connection["pageInfo"]["hasNextPage"] is False


async def test_page_size_is_capped_at_100(api, users, sessions) -> None:
    center = await create_center(api, await users.create("admin"))
    await _add_accounts(sessions, center, 101)
    query = """query($id: ID!) { businessCenter(id: $id) {
      adAccounts(first: 500) { pageInfo { hasNextPage } edges { cursor } } } }"""
    page = await api.data(query, {"id": center.id}, center.admin.token)
    assert len(page["businessCenter"]["adAccounts"]["edges"]) == 100
    assert page["businessCenter"]["adAccounts"]["pageInfo"]["hasNextPage"] is True


async def test_a_bad_cursor_is_an_error_not_a_crash(api, users) -> None:
    center = await create_center(api, await users.create("admin"))
    query = 'query($id: ID!) { businessCenter(id: $id) { adAccounts(after: "zzz") { edges { cursor } } } }'
    body = await api.post(query, {"id": center.id}, center.admin.token)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
