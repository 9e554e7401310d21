"""The read path (issue 11): a token is looked up once per few seconds per process, a wallet
read is one statement outside any transaction, a mutation stays one transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, event
from sqlalchemy.engine import Engine

from adledger.services.actor import Actor
from adledger.services.users import TokenCache, hash_token
from adledger.store import raw
from adledger.store.models import ApiToken
from tests.helpers import BALANCE, TRANSFER, create_account, create_center

VIEWER = "{ viewer { email } }"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Statements:
    """Each SQL statement of any engine (store/raw.py's too) with the isolation level it ran
    under."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def __call__(self, conn, _cursor, statement, _params, _context, _many) -> None:
        self.seen.append((statement, conn.get_execution_options().get("isolation_level")))


@pytest.fixture
def sql() -> Iterator[Statements]:
    recorder = Statements()
    event.listen(Engine, "before_cursor_execute", recorder)
    stop_raw = raw.observe(lambda statement, level: recorder.seen.append((statement, level)))
    yield recorder
    stop_raw()
    event.remove(Engine, "before_cursor_execute", recorder)


@pytest.fixture
def clock(app) -> Clock:
    """The app's token cache on a clock the test moves."""
    fake = Clock()
    app.state.adledger.tokens.clock = fake
    return fake


def _code(body: dict) -> str | None:
    errors = body.get("errors") or [{}]
    return errors[0].get("extensions", {}).get("code")


# -- the token cache ---------------------------------------------------------------------


async def test_a_revoked_token_stops_working_within_the_cache_ttl(
    api, app, users, sessions, clock
) -> None:
    # given a token the app has seen (and so keeps for `ttl` seconds)
    user = await users.create("revoked")
    ttl = app.state.adledger.tokens.ttl
    assert 0 < ttl <= 5
    assert (await api.data(VIEWER, token=user.token))["viewer"]["email"] == user.email
    # when it is revoked (its row deleted)
    async with sessions() as session:
        await session.execute(delete(ApiToken).where(ApiToken.token_hash == hash_token(user.token)))
        await session.commit()
    # then it may still answer until the ttl is over
    clock.now += ttl / 2
    assert (await api.data(VIEWER, token=user.token))["viewer"]["email"] == user.email
    # and once the ttl is over it is refused
    clock.now += ttl / 2
    assert _code(await api.post(VIEWER, token=user.token)) == "INVALID_TOKEN"
    # and stays refused
    clock.now += 3 * ttl
    assert _code(await api.post(VIEWER, token=user.token)) == "INVALID_TOKEN"


async def test_an_unknown_token_is_never_cached_as_valid(api, app, users, sql, clock) -> None:
    # given an unknown token
    unknown = "adl_not-a-real-token"
    # when it is sent twice
    first = await api.post(VIEWER, token=unknown)
    sql.seen.clear()
    second = await api.post(VIEWER, token=unknown)
    # then it is refused both times, looked up both times, and kept nowhere
    assert _code(first) == _code(second) == "INVALID_TOKEN"
    assert any("api_tokens" in statement for statement, _ in sql.seen)
    assert app.state.adledger.tokens.get(hash_token(unknown)) is None


async def test_a_known_token_is_looked_up_once_within_the_ttl(api, users, sql, clock) -> None:
    # given a user whose token the app has seen
    user = await users.create("cached")
    await api.data(VIEWER, token=user.token)
    sql.seen.clear()
    # when the same token comes back within the ttl
    await api.data(VIEWER, token=user.token)
    # then it is not looked up again
    assert not any("api_tokens" in statement for statement, _ in sql.seen)


async def test_a_new_token_works_at_once(api, users) -> None:
    # given a token refused a moment ago because it did not exist yet: nothing remembers
    # the refusal
    user = await users.create("new")
    assert (await api.data(VIEWER, token=user.token))["viewer"]["email"] == user.email


def test_the_cache_forgets_entries_after_the_ttl_and_stays_bounded() -> None:
    clock = Clock()
    cache = TokenCache(5.0, max_entries=3, clock=clock)
    actor = Actor(user_id=1, email="a@example.com", is_staff=False)
    cache.put("a", actor)
    clock.now += 4.9
    assert cache.get("a") == actor
    clock.now += 0.1
    assert cache.get("a") is None
    for key in "bcde":
        cache.put(key, actor)
    assert cache.get("b") is None  # the oldest went first
    assert [cache.get(key) for key in "cde"] == [actor, actor, actor]


def test_a_ttl_of_zero_caches_nothing() -> None:
    cache = TokenCache(0)
    cache.put("a", Actor(user_id=1, email="a@example.com", is_staff=False))
    assert cache.get("a") is None


# -- statements and transactions -----------------------------------------------------------


@pytest.fixture
async def funded(api, users):
    admin = await users.create("admin")
    center = await create_center(api, admin)
    account = await create_account(api, center)
    await users.fund(center.wallet_id, "100.00")
    await api.data(VIEWER, token=admin.token)  # the token is cached, today's activity noted
    return center, account


async def test_a_wallet_balance_read_is_one_statement_outside_a_transaction(
    api, funded, sql
) -> None:
    # given a member whose token the app knows
    center, _ = funded
    sql.seen.clear()
    # when they read the wallet's balance, directly and as a node
    data = await api.data(BALANCE, {"id": center.wallet_id}, center.admin.token)
    node = (
        "query($id: ID!) { node(id: $id) { ... on Wallet { balance { available { amount } } } } }"
    )
    as_node = await api.data(node, {"id": center.wallet_id}, center.admin.token)
    # then each read is one statement (wallet, role and balances together), on an
    # AUTOCOMMIT connection: no BEGIN, no ROLLBACK
    assert data["wallet"]["balance"]["cash"]["amount"] == "100.00"
    assert as_node["node"]["balance"]["available"]["amount"] == "100.00"
    assert len(sql.seen) == 2, sql.seen
    assert {level for _, level in sql.seen} == {"AUTOCOMMIT"}


async def test_a_wallet_of_another_customer_is_not_found_in_the_same_statement(
    api, funded, users, sql
) -> None:
    # given a stranger whose token the app knows
    center, _ = funded
    stranger = await users.create("stranger")
    await api.data(VIEWER, token=stranger.token)
    sql.seen.clear()
    # when they read the center's wallet and its balance
    body = await api.post(BALANCE, {"id": center.wallet_id}, stranger.token)
    # then it does not exist for them (as the authorization tests check for every entry
    # point), and the one statement that found it decided so
    assert body["data"] == {"wallet": None}
    assert "errors" not in body
    assert len(sql.seen) == 1


async def test_a_mutation_runs_in_one_transaction(api, funded, sql) -> None:
    # given a member whose token the app knows
    center, account = funded
    sql.seen.clear()
    # when they move money
    variables = {
        "input": {
            "fromWalletId": center.wallet_id,
            "toWalletId": account.wallet_id,
            "amount": {"amount": "1.00", "currencyCode": "USD"},
        }
    }
    result = (await api.data(TRANSFER, variables, center.admin.token))["transferBalance"]
    # then no statement of the request ran outside the request's transaction: the answer's
    # wallets were read in it, right before the commit
    assert result["__typename"] == "TransferBalanceSuccess", result
    assert sql.seen
    assert "AUTOCOMMIT" not in {level for _, level in sql.seen}


async def test_a_request_that_reads_no_table_runs_no_statement(api, funded, sql) -> None:
    center, _ = funded
    sql.seen.clear()
    assert (await api.data("{ __typename }", token=center.admin.token)) == {"__typename": "Query"}
    assert sql.seen == []
