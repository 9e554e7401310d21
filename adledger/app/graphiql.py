"""GraphiQL with no internet: strawberry's page, with its scripts and stylesheets served by
the app itself from pinned, vendored copies (static/graphiql/, licenses beside them).

It opens on how to start rather than on strawberry's welcome: `adledger dev` puts the demo
token in the Headers tab and a query that runs; anywhere else (serve) a comment says how
to send a token, and no token is ever in the page.
"""

from __future__ import annotations

import json
import re
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


# What strawberry's page opens with, and where it takes its headers from (the URL).
_EXAMPLE_QUERY = re.compile(r"const EXAMPLE_QUERY = `.*?`;", re.S)
_HEADERS_STATE = "React.useState(parameters.headers)"

EXAMPLE = """query MyWallets {
  viewer {
    email
    businessCenters(first: 10) {
      edges {
        node {
          name
          wallet {
            id
            balance { available { amount currencyCode } }
          }
        }
      }
    }
  }
}
"""

HOW_TO_AUTHENTICATE = (
    "# adledger GraphQL API\n"
    "#\n"
    "# Send your API token in the Headers tab (below this editor):\n"
    '#   {"Authorization": "Bearer <your token>"}\n'
    "# `adledger users create EMAIL` prints a token. Then run the query\n"
    "# below with Ctrl-Enter (or the play button).\n\n"
)

DEMO_INTRO = (
    "# adledger demo (make dev): the demo admin's token is already in the\n"
    "# Headers tab. Run the query below with Ctrl-Enter (or the play button).\n\n"
)


def _script_literal(value: str) -> str:
    """A JavaScript string literal that cannot end the <script> it stands in."""
    literal = json.dumps(value)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        literal = literal.replace(raw, escaped)
    return literal.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def with_start(page: str, demo_token: str | None = None) -> str:
    """The page opening on our example query; with the demo token in its Headers tab
    when one is given (only `adledger dev` gives one)."""
    intro = HOW_TO_AUTHENTICATE if demo_token is None else DEMO_INTRO
    started, found = _EXAMPLE_QUERY.subn(
        lambda _: f"const EXAMPLE_QUERY = {_script_literal(intro + EXAMPLE)};", page, count=1
    )
    if not found or _HEADERS_STATE not in page:
        raise RuntimeError("strawberry's GraphiQL page changed: the start cannot be set")
    if demo_token is None:
        return started
    headers = json.dumps({"Authorization": f"Bearer {demo_token}"}, indent=2)
    return started.replace(
        _HEADERS_STATE, f"React.useState(parameters.headers || {_script_literal(headers)})", 1
    )


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
