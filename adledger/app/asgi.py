"""The ASGI application: GraphQL (with GraphiQL and graphql-transport-ws), health checks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from adledger.app.providers import build_provider, close_provider
from adledger.app.settings import Settings
from adledger.app.webhooks import receive_stripe_event
from adledger.resolvers.context import AppState, RequestContext
from adledger.schema.root import build_schema
from adledger.store.db import make_engine, make_sessionmaker


class AdledgerGraphQL(GraphQL):  # type: ignore[type-arg]
    def __init__(self, state_holder: dict[str, AppState], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._state_holder = state_holder

    async def get_context(self, request: Request | WebSocket, response: Any) -> RequestContext:
        return RequestContext(self._state_holder["state"], request.headers.get("authorization"))


def create_app(settings: Settings) -> Starlette:
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("create_app needs DATABASE_URL and REDIS_URL")
    holder: dict[str, AppState] = {}
    schema = build_schema(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_query_nodes=settings.max_query_nodes,
        max_fragment_spreads=settings.max_fragment_spreads,
        max_field_repeats=settings.max_field_repeats,
    )
    graphql = AdledgerGraphQL(
        holder, schema=schema, graphql_ide="graphiql" if settings.graphiql else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url or "",
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        redis = Redis.from_url(settings.redis_url or "")
        provider = build_provider(settings, redis)
        holder["state"] = AppState(
            sessions=make_sessionmaker(engine),
            redis=redis,
            provider=provider,
            billing=settings.billing_config(),
            webhook_secret=settings.webhook_secret,
        )
        app.state.adledger = holder["state"]  # for the CLI and tests that drive the process
        try:
            yield
        finally:
            await close_provider(provider)
            await redis.aclose()
            await engine.dispose()

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def stripe_webhook(request: Request) -> JSONResponse:
        return await receive_stripe_event(holder["state"], request)

    async def readyz(_: Request) -> JSONResponse:
        state = holder["state"]
        checks = {"database": await _db_ready(state), "redis": await _redis_ready(state)}
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"ready": status == 200, **checks}, status_code=status)

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )


async def _db_ready(state: AppState) -> bool:
    try:
        async with state.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


async def _redis_ready(state: AppState) -> bool:
    try:
        return bool(await state.redis.ping())
    except Exception:
        return False
