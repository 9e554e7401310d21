"""Query cost before execution (QUERY_TOO_COSTLY) and the points budget per caller
(RATE_LIMITED, 429), issue 24."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import httpx
import pytest
from websockets.asyncio.client import connect

from adledger import clock
from adledger.app.asgi import create_app
from adledger.app.settings import Settings
from adledger.resolvers import query
from adledger.store import business_centers
from tests.api.conftest import Live
from tests.helpers import Api, create_center, spend_event

ATTACK_ALIAS = """a{i}: businessCenter(id: $id) {{ adAccounts(first: 100) {{ edges {{ node {{
  id wallet {{ transactions(first: 100) {{ edges {{ node {{ id }} }} }} }}
  campaigns(first: 100) {{ edges {{ node {{ id }} }} }}
  budgetChanges(first: 100) {{ edges {{ node {{ changedAt }} }} }} }} }} }} }}"""
# Issue 24: within the depth, alias and token limits; 20 x (100 + 100 x 300) nodes.
ATTACK = "query($id: ID!) {" + "\n".join(ATTACK_ALIAS.format(i=i) for i in range(20)) + "}"
ATTACK_COST = 602_000

# 5 centers + 5 x 4 accounts = 25 nodes, and the rateLimit it is part of.
PAGES = """query($centers: Int!) {
  rateLimit { cost limit remaining resetAt }
  viewer { businessCenters(first: $centers) { edges { node {
    adAccounts(first: 4) { edges { node { id } } } } } } } }"""


@pytest.fixture
async def budget_api(
    db: None, database_url: str, redis_url: str
) -> AsyncIterator[Callable[..., Awaitable[Api]]]:
    """An app with these settings (a small budget), behind an httpx client."""
    opened: list[Any] = []

    async def start(**settings: Any) -> Api:
        app = create_app(Settings(database_url=database_url, redis_url=redis_url, **settings))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        opened.append((lifespan, client))
        return Api(client)

    yield start
    for lifespan, client in opened:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def _post(api: Api, query: str, variables: dict[str, Any], token: str, **headers: str):
    return await api.client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}", **headers},
    )


async def test_the_20_alias_query_is_refused_before_any_resolver_runs(api, users) -> None:
    # given a member of a center
    admin = await users.create("admin")
    center = await create_center(api, admin)
    # when it sends issue 24's query (within the depth, alias and token limits)
    with mock.patch.object(query, "_visible_row") as lookups:
        body = await api.post(ATTACK, {"id": center.id}, token=admin.token)
    # then it is refused with its cost, and no resolver asked for a page
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "QUERY_TOO_COSTLY",
        "cost": ATTACK_COST,
        "limit": 100_000,
    }
    assert "602000 nodes" in error["message"]
    lookups.assert_not_called()
    # and the refusal was charged the most a query may cost
    rate = (await api.data("{ rateLimit { limit remaining } }", {}, admin.token))["rateLimit"]
    assert rate["remaining"] == rate["limit"] - 1 - 100_000 - 1  # createBusinessCenter: 1


async def test_rate_limit_reports_the_cost_of_the_query_it_is_part_of(api, users) -> None:
    # given a member
    member = await users.create()
    # when it asks for two pages of pages
    first = (await api.data(PAGES, {"centers": 5}, member.token))["rateLimit"]
    second = (await api.data(PAGES, {"centers": 50}, member.token))["rateLimit"]
    # then each reports its own cost (variables resolved) and what is left after it
    assert first["cost"] == 5 + 5 * 4
    assert first["limit"] == Settings().rate_limit_points
    assert first["remaining"] == first["limit"] - 25
    assert second["cost"] == 50 + 50 * 4
    assert second["remaining"] == first["limit"] - 25 - 250
    reset_at = datetime.fromisoformat(second["resetAt"])
    assert clock.now() < reset_at <= clock.now() + timedelta(seconds=61)


async def test_a_caller_past_its_budget_gets_429_and_runs_nothing(budget_api, users) -> None:
    # given a budget of 60 points a minute, 50 of them spent
    api = await budget_api(rate_limit_points=60)
    member = await users.create()
    assert (await _post(api, PAGES, {"centers": 10}, member.token)).status_code == 200
    # when the member asks for 25 more, in either media type
    with mock.patch.object(business_centers, "page_business_centers") as pages:
        legacy = await _post(api, PAGES, {"centers": 5}, member.token)
        spec = await _post(
            api, PAGES, {"centers": 5}, member.token, Accept="application/graphql-response+json"
        )
    # then both answer 429 with Retry-After and a typed error, and no resolver ran
    pages.assert_not_called()
    for response in (legacy, spec):
        assert response.status_code == 429
        retry_after = int(response.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        [error] = response.json()["errors"]
        extensions = error["extensions"]
        assert extensions["code"] == "RATE_LIMITED"
        assert extensions["limit"] == 60
        assert extensions["remaining"] == 0
        assert extensions["retryAfter"] == retry_after
        reset_at = datetime.fromisoformat(extensions["resetAt"])
        assert clock.now() < reset_at <= clock.now() + timedelta(seconds=61)
    assert spec.headers["content-type"].startswith("application/graphql-response+json")


async def test_members_and_the_integration_token_have_budgets_of_their_own(
    budget_api, users
) -> None:
    # given a member who spent its budget
    api = await budget_api(rate_limit_points=30, rate_limit_integration_points=3000)
    member, other = await users.create(), await users.create()
    ad_server = await users.create("adserver", integration=True)
    await _post(api, PAGES, {"centers": 10}, member.token)
    assert (await _post(api, PAGES, {"centers": 1}, member.token)).status_code == 429
    # when another member and the ad server ask
    other_limit = (await api.data(PAGES, {"centers": 1}, other.token))["rateLimit"]
    server_limit = await api.data("{ rateLimit { limit remaining } }", {}, ad_server.token)
    # then they spend their own budgets
    assert other_limit["remaining"] == 30 - 5
    assert server_limit["rateLimit"] == {"limit": 3000, "remaining": 3000 - 1}


async def test_a_spend_batch_is_charged_by_its_size(budget_api, users) -> None:
    # given the ad server and a budget of 3000 points
    api = await budget_api(rate_limit_integration_points=3000)
    ad_server = await users.create("adserver", integration=True)
    events = [spend_event(f"e{i}", "Q2FtcGFpZ246MQ==", "1.00") for i in range(300)]
    # when it sends a batch of 300 events selecting next to nothing
    mutation = (
        "mutation($events: [SpendEventInput!]!) "
        "{ recordSpend(input: {events: $events}) { __typename } }"
    )
    await api.post(mutation, {"events": events}, token=ad_server.token)
    # then the batch cost 300 points
    rate = (await api.data("{ rateLimit { remaining } }", {}, ad_server.token))["rateLimit"]
    assert rate["remaining"] == 3000 - 300 - 1


async def test_a_caller_with_no_token_is_charged_to_its_address(budget_api) -> None:
    # given a budget of 3 points
    api = await budget_api(rate_limit_points=3)
    # when an anonymous client asks four times
    answers = [
        await api.client.post("/graphql", json={"query": "{ __typename }"}) for _ in range(4)
    ]
    # then the fourth is over the budget of its address
    assert [a.status_code for a in answers] == [200, 200, 200, 429]


async def test_a_websocket_operation_past_the_budget_gets_the_typed_error(
    serve: Callable[..., Awaitable[Live]], users
) -> None:
    # given a member with a budget of 30 points over a WebSocket
    live = await serve(rate_limit_points=30)
    member = await users.create()
    headers = {"Authorization": f"Bearer {member.token}"}
    async with connect(
        f"ws://{live.url}/graphql",
        subprotocols=["graphql-transport-ws"],
        additional_headers=headers,
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        # when it runs an operation of 25 points twice
        answers = []
        for operation_id in ("1", "2"):
            payload = {"query": PAGES, "variables": {"centers": 5}}
            await ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))
            answers.append(await _answer(ws, operation_id))
    # then the second is refused, RATE_LIMITED
    assert answers[0]["type"] == "next"
    assert answers[0]["payload"]["data"]["rateLimit"]["cost"] == 25
    assert answers[1]["type"] == "error"  # graphql-transport-ws: refused before execution
    assert answers[1]["payload"][0]["extensions"]["code"] == "RATE_LIMITED"


async def _answer(ws: Any, operation_id: str) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        if message.get("id") == operation_id and message["type"] in ("next", "error"):
            return message
