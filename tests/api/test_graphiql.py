"""GraphiQL works with no internet: the page names only the app's own assets, and the app
serves each of them, pinned, with its license beside it."""

from __future__ import annotations

import hashlib
import re
from base64 import b64encode

from adledger.app.graphiql import STATIC

ASSET = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"[^>]*?>', re.S)
INTEGRITY = re.compile(r'(?:src|href)="([^"]+)"\s+integrity="(sha384-[^"]+)"')


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
