"""Query limits, masked errors, health endpoints, GraphiQL."""

from __future__ import annotations

from unittest import mock

from adledger.store import business_centers


async def test_a_too_deep_query_is_refused_before_it_runs(api, users) -> None:
    user = await users.create()
    nested = "{ viewer { businessCenters { edges { node { adAccounts { edges { node { businessCenter { adAccounts { edges { node { businessCenter { adAccounts { edges { node { id } } } } } } } } } } } } } } } }"
    body = await api.post(nested, token=user.token)
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_too_many_aliases_are_refused(api, users) -> None:
    user = await users.create()
    query = "{ " + " ".join(f"a{i}: viewer {{ email }}" for i in range(40)) + " }"
    body = await api.post(query, token=user.token)
    assert "aliases" in body["errors"][0]["message"].lower()


async def test_too_many_tokens_are_refused(api, users) -> None:
    user = await users.create()
    query = "{ viewer { " + " ".join(["email"] * 3000) + " } }"
    body = await api.post(query, token=user.token)
    assert "token" in body["errors"][0]["message"].lower()


async def test_an_unexpected_error_is_masked(api, users) -> None:
    user = await users.create()
    boom = mock.AsyncMock(side_effect=RuntimeError("password=hunter2 in a stack trace"))
    with mock.patch.object(business_centers, "page_business_centers", boom):
        body = await api.post(
            "{ viewer { businessCenters { edges { cursor } } } }", token=user.token
        )
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "hunter2" not in str(body)


async def test_health_and_readiness(api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "database": True, "redis": True}


async def test_graphiql_is_served_to_a_browser(api) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
