"""GraphiQL works with no internet: the page names only the app's own assets, and the app
serves each of them, pinned, with its license beside it."""

from __future__ import annotations

import hashlib
import json
import re
from base64 import b64encode

import httpx

from adledger.app.asgi import create_app
from adledger.app.graphiql import STATIC
from adledger.app.settings import Settings
from tests.helpers import Api, UserFactory

ASSET = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"[^>]*?>', re.S)
INTEGRITY = re.compile(r'(?:src|href)="([^"]+)"\s+integrity="(sha384-[^"]+)"')
OPENING_QUERY = re.compile(r"const EXAMPLE_QUERY = (\"(?:[^\"\\]|\\.)*\");")
DEFAULT_HEADERS = re.compile(r"React\.useState\(parameters\.headers \|\| (\"(?:[^\"\\]|\\.)*\")\)")


async def _page(api) -> str:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    return response.text


async def test_the_page_names_no_other_origin(api) -> None:
    page = await _page(api)

    assets = [url for url in ASSET.findall(page) if not url.startswith("data:")]
    assert len(assets) == 7
    assert [url for url in assets if not url.startswith("/graphiql/")] == []
    assert "unpkg.com" not in page and "jsdelivr" not in page


async def test_every_script_and_stylesheet_is_served_by_the_app(api) -> None:
    page = await _page(api)

    for url in (u for u in ASSET.findall(page) if not u.startswith("data:")):
        response = await api.client.get(url)
        assert response.status_code == 200, url
        kind = "text/css" if url.endswith(".css") else "javascript"
        assert kind in response.headers["content-type"], url
        assert len(response.content) > 500, url
        assert "immutable" in response.headers["cache-control"], url


async def test_served_files_match_the_pages_integrity_hashes(api) -> None:
    page = await _page(api)

    pairs = INTEGRITY.findall(page)
    assert len(pairs) == 7
    for url, integrity in pairs:
        body = (await api.client.get(url)).content
        assert integrity == "sha384-" + b64encode(hashlib.sha384(body).digest()).decode(), url


def test_every_vendored_package_carries_its_license() -> None:
    packages = [p for p in STATIC.rglob("*@*") if p.is_dir() and "@" in p.name[1:]]

    assert len(packages) == 5
    for package in packages:
        assert (
            "MIT" in (package / "LICENSE").read_text()[:200]
            or "MIT License" in (package / "LICENSE").read_text()
        ), package


async def test_a_path_outside_the_assets_is_not_served(api) -> None:
    response = await api.client.get("/graphiql/../../settings.py")

    assert response.status_code == 404


# GraphiQL says how to start (issue 24, seen 6) ------------------------------------------


async def _dev_page(database_url: str, redis_url: str, token: str) -> str:
    """The page of the app as `adledger dev` builds it, with the demo token."""
    app = create_app(
        Settings(database_url=database_url, redis_url=redis_url), graphiql_demo_token=token
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    return response.text


def _opening_query(page: str) -> str:
    (literal,) = OPENING_QUERY.findall(page)
    return json.loads(literal)


async def test_elsewhere_the_page_says_how_to_send_a_token_and_holds_none(api) -> None:
    page = await _page(api)

    query = _opening_query(page)
    assert "Welcome to GraphiQL" not in page
    assert "# Send your API token in the Headers tab" in query
    assert '#   {"Authorization": "Bearer <your token>"}' in query
    assert DEFAULT_HEADERS.findall(page) == []
    assert "React.useState(parameters.headers)" in page


async def test_in_dev_the_demo_token_is_in_the_headers_tab_and_the_query_runs(
    api: Api, users: UserFactory, database_url: str, redis_url: str
) -> None:
    # given the demo's user and its token, as `adledger dev` hands them to the app
    user = await users.create("demo")
    # when GraphiQL opens
    page = await _dev_page(database_url, redis_url, user.token)
    # then its Headers tab holds the token and its query runs with it as it stands
    (headers,) = DEFAULT_HEADERS.findall(page)
    assert json.loads(json.loads(headers)) == {"Authorization": f"Bearer {user.token}"}
    query = _opening_query(page)
    assert "already in the\n# Headers tab" in query
    data = await api.data(query, token=user.token)
    assert data["viewer"]["email"] == user.email
    # and it is still served offline
    assets = [url for url in ASSET.findall(page) if not url.startswith("data:")]
    assert len(assets) == 7 and all(url.startswith("/graphiql/") for url in assets)


async def test_what_the_page_is_given_cannot_end_its_script(
    database_url: str, redis_url: str, db: None
) -> None:
    page = await _dev_page(database_url, redis_url, "</script><script>alert(1)</script>")

    assert "<script>alert(1)" not in page
    (headers,) = DEFAULT_HEADERS.findall(page)
    assert "</script>" in json.loads(json.loads(headers))["Authorization"]
