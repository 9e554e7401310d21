"""GraphiQL with no internet: strawberry's page, with its scripts and stylesheets served by
the app itself from pinned, vendored copies (static/graphiql/, licenses beside them)."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC = Path(__file__).resolve().parent / "static" / "graphiql"
PREFIX = "/graphiql/"
# Where strawberry's page loads them from; the same paths exist under STATIC.
CDN = "https://unpkg.com/"


def offline_page(page: str) -> str:
    """The page with every asset from our own origin; its SRI hashes stay, and hold."""
    local = page.replace(CDN, PREFIX)
    if "https://unpkg.com" in local or "cdn.jsdelivr" in local:
        raise RuntimeError("the GraphiQL page names an asset that is not vendored")
    return local


class _Immutable(StaticFiles):
    """Each file's path names its package's version, so it never changes under its URL."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cache(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"cache-control", b"public, max-age=31536000, immutable"))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_cache)


def graphiql_assets() -> Mount:
    return Mount(PREFIX.rstrip("/"), app=_Immutable(directory=STATIC), name="graphiql")
