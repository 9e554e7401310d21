"""GraphQL over HTTP's application/graphql-response+json: the answers the graphql-http
audit checks (its SHOULDs about the media type, and the MUSTs next to them)."""

from __future__ import annotations

import json

import pytest

from adledger.app.graphql_http import GRAPHQL_RESPONSE, negotiate

SPEC = "application/graphql-response+json"


async def _post(api, body: object, accept: str | None) -> object:
    headers = {"Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    content = body if isinstance(body, str) else json.dumps(body)
    return await api.client.post("/graphql", content=content, headers=headers)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (SPEC, SPEC),
        (f"{SPEC}, application/json;q=0.9", SPEC),
        (f"application/json;q=0.9, {SPEC}", SPEC),
        (f"application/json, {SPEC}", SPEC),
        (f"application/json, {SPEC};q=0.5", "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
        (f"{SPEC};q=0", "application/json"),
    ],
)
async def test_the_answer_has_the_media_type_the_client_prefers(
    api, accept: str | None, media_type: str
) -> None:
    response = await _post(api, {"query": "{ __typename }"}, accept)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert "charset=utf-8" in response.headers["content-type"] or media_type != SPEC
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"query": "{"}, id="document-parse-failure"),
        pytest.param({"query": "{ notAField }"}, id="document-validation-failure"),
        pytest.param(
            {"query": "query ($id: ID!) { wallet(id: $id) { id } }", "variables": {"id": []}},
            id="variable-coercion-failure",
        ),
        pytest.param(
            {"query": "query ($id: ID!) { wallet(id: $id) { id } }"}, id="missing-variable"
        ),
    ],
)
async def test_a_request_error_is_400_without_data_for_the_spec_media_type(api, body) -> None:
    response = await _post(api, body, SPEC)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith(SPEC)
    result = response.json()
    assert "data" not in result
    assert result["errors"] and all("message" in error for error in result["errors"])


async def test_the_legacy_media_type_keeps_200_with_null_data(api) -> None:
    response = await _post(api, {"query": "{ notAField }"}, "application/json")

    assert response.status_code == 200
    assert response.json()["data"] is None


async def test_a_field_error_during_execution_is_200_with_data(api) -> None:
    # viewer needs a token: execution started, the error belongs to a field
    response = await _post(api, {"query": "{ viewer { email } }"}, SPEC)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(SPEC)
    assert response.json()["errors"][0]["path"] == ["viewer"]


async def test_unparsable_json_is_400_for_either_media_type(api) -> None:
    for accept in (SPEC, "application/json"):
        response = await _post(api, '{"query": ', accept)
        assert response.status_code == 400, accept


async def test_get_queries_negotiate_too(api) -> None:
    response = await api.client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"Accept": SPEC}
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(SPEC)


async def test_graphiql_is_still_the_page_for_a_browser(api) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})

    assert response.headers["content-type"].startswith("text/html")


def test_a_hostile_accept_header_costs_little() -> None:
    accept = ", ".join(["text/x-junk;q=0.1"] * 10_000) + f", {SPEC}"

    # only the first 20 entries are read: the preferred type is past them
    assert negotiate(accept) == "application/json"
    assert negotiate(f"{SPEC};q=abc") == "application/json"
    assert negotiate(GRAPHQL_RESPONSE.upper()) == GRAPHQL_RESPONSE


async def test_a_non_json_answer_passes_through_untouched(api) -> None:
    """GraphiQL's page asked with the spec's type first: HTML, not rewritten or buffered."""
    response = await api.client.get("/graphql", headers={"Accept": f"text/html, {SPEC}"})

    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
