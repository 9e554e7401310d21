"""Documents that are small as text but huge once their fragments are expanded are refused
right after parsing, before any validation rule (or anything else) walks them."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from strawberry.extensions import max_aliases, query_depth_limiter
from strawberry.schema import schema as strawberry_schema
from websockets.asyncio.client import connect

from tests.helpers import create_center


def fan_out(levels: int, between: str = "") -> str:
    """Each fragment spreads the next one twice: 2^levels selections once expanded."""
    fragments = " ".join(
        f"fragment F{i} on Query {{ {between} ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ __typename }}"


@pytest.fixture
def rules_run(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts calls of graphql-core's validation and of the depth and alias limiters' walks."""
    calls: Counter[str] = Counter()

    def spy(module: Any, name: str) -> None:
        real: Callable[..., Any] = getattr(module, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    spy(strawberry_schema, "validate")
    spy(query_depth_limiter, "determine_depth")
    spy(max_aliases, "count_fields_with_alias")
    return calls


def assert_too_complex(body: dict[str, Any], words: str) -> None:
    assert body.get("data") is None
    [error] = body["errors"]
    assert words in error["message"]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}


async def test_the_spies_see_validation_of_an_ordinary_query(api, rules_run) -> None:
    # given a query never sent before (so no validation cache answers for it)
    body = await api.post("query SpiesWork { alias: __typename }")
    # then it was validated, by the limiters too
    assert body == {"data": {"alias": "Query"}}
    assert rules_run["validate"] == 1
    assert rules_run["determine_depth"] > 0
    assert rules_run["count_fields_with_alias"] > 0


@pytest.mark.parametrize("levels", [20, 40])
@pytest.mark.parametrize("between", ["", "__typename", "a: __typename b: __typename"])
async def test_a_fragment_fan_out_is_refused_before_validation(
    api, rules_run, levels: int, between: str
) -> None:
    # given a ~1-2 KB document that expands to 2^levels selections, and no token
    document = fan_out(levels, between)
    assert len(document) < 3000
    # when it is sent
    body = await api.post(document)
    # then it is refused with a typed error, and nothing walked it
    assert_too_complex(body, "the query is too large once its fragments are expanded (")
    assert "> 2000 selections)" in body["errors"][0]["message"]
    assert rules_run == Counter()


async def test_the_reported_size_is_the_expanded_one(api) -> None:
    body = await api.post(fan_out(11))
    assert body["errors"][0]["message"] == (
        "the query is too large once its fragments are expanded (2048 > 2000 selections)"
    )


async def test_a_fan_out_of_empty_fragments_is_refused_by_its_spreads(api, rules_run) -> None:
    # given fragments that select nothing but spread the next one twice
    document = fan_out(20).replace("{ __typename }", "{ }")
    # when it is sent
    body = await api.post(document)
    # then the spreads alone refuse it
    assert_too_complex(body, "the query spreads too many fragments once they are expanded (")
    assert rules_run == Counter()


@pytest.mark.parametrize(
    "document",
    [
        "{ " + "viewer { email } " * 490 + "}",
        "{ ...A ...B } fragment A on Query { " + "viewer { email } " * 30 + "} "
        "fragment B on Query { " + "viewer { isStaff } " * 30 + "}",
    ],
)
async def test_one_field_repeated_in_one_place_is_refused(api, rules_run, document) -> None:
    # given a document repeating one field (validation would compare every pair of them)
    body = await api.post(document)
    # then it is refused before validation
    assert_too_complex(body, "the query selects viewer ")
    assert "times in one selection set (> 50)" in body["errors"][0]["message"]
    assert rules_run == Counter()


async def test_a_fragment_cycle_is_refused(api, rules_run) -> None:
    document = (
        "query { ...A } fragment A on Query { __typename ...B } "
        "fragment B on Query { ...C } fragment C on Query { ...A }"
    )
    body = await api.post(document)
    assert_too_complex(body, "spreads itself")
    assert rules_run == Counter()


async def test_an_unused_fan_out_fragment_is_refused_too(api, rules_run) -> None:
    body = await api.post(fan_out(20).replace("query { ...F0 }", "query { __typename }"))
    assert_too_complex(body, "the query is too large once its fragments are expanded (")
    assert rules_run == Counter()


async def test_a_mutation_with_a_fan_out_is_refused(api, users, rules_run) -> None:
    user = await users.create()
    fragments = " ".join(
        f"fragment M{i} on CreateBusinessCenterSuccess {{ ...M{i + 1} ...M{i + 1} }}"
        for i in range(20)
    )
    document = (
        'mutation { createBusinessCenter(input: {name: "X", currencyCode: USD}) { ...M0 } } '
        f"{fragments} fragment M20 on CreateBusinessCenterSuccess {{ __typename }}"
    )
    body = await api.post(document, token=user.token)
    assert_too_complex(body, "the query is too large once its fragments are expanded (")
    assert rules_run == Counter()
    viewer = await api.data("{ viewer { businessCenters { edges { cursor } } } }", None, user.token)
    assert viewer["viewer"]["businessCenters"]["edges"] == []


async def test_a_query_with_fragments_still_runs(api, users) -> None:
    # given a center, read through nested fragments spread several times
    center = await create_center(api, await users.create("admin"), name="Fragmented")
    await users.fund(center.wallet_id, "12.50")
    document = """
    query($id: ID!) {
      a: wallet(id: $id) { ...WalletParts }
      b: wallet(id: $id) { ...WalletParts }
      viewer { businessCenters { edges { node { name wallet { ...WalletParts } } } } }
    }
    fragment WalletParts on Wallet { id balance { ...Amounts } }
    fragment Amounts on WalletBalance { cash { ...Money } available { ...Money } }
    fragment Money on Money { amount currencyCode }
    """
    # when it is sent
    data = await api.data(document, {"id": center.wallet_id}, center.admin.token)
    # then it runs as before
    wallet = {
        "id": center.wallet_id,
        "balance": {
            "cash": {"amount": "12.50", "currencyCode": "USD"},
            "available": {"amount": "12.50", "currencyCode": "USD"},
        },
    }
    assert data["a"] == wallet
    assert data["b"] == wallet
    assert data["viewer"]["businessCenters"]["edges"] == [
        {"node": {"name": "Fragmented", "wallet": wallet}}
    ]


async def test_a_subscription_with_a_fan_out_is_refused_over_the_websocket(
    db, live_url, rules_run
) -> None:
    fragments = " ".join(
        f"fragment W{i} on Wallet {{ ...W{i + 1} ...W{i + 1} }}" for i in range(20)
    )
    document = (
        'subscription { walletUpdated(walletId: "V2FsbGV0OjE=") { ...W0 } } '
        f"{fragments} fragment W20 on Wallet {{ id }}"
    )
    async with connect(f"ws://{live_url}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        payload = {"query": document}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    assert message["type"] == "error"
    assert message["id"] == "1"
    [error] = message["payload"]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX"}
    assert rules_run == Counter()


async def test_health_answers_while_attacks_are_in_flight(app) -> None:
    # given 20 attack documents and 20 health checks sent at once
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        attacks = [client.post("/graphql", json={"query": fan_out(20 + i % 5)}) for i in range(20)]
        checks = [client.get("/healthz") for _ in range(20)]
        responses = await asyncio.gather(*attacks, *checks)
    # then every attack got the typed error and every health check answered
    for response in responses[:20]:
        assert response.status_code == 200
        assert response.json()["errors"][0]["extensions"] == {"code": "QUERY_TOO_COMPLEX"}
    assert [r.status_code for r in responses[20:]] == [200] * 20
    assert [r.json() for r in responses[20:]] == [{"status": "ok"}] * 20
