"""The ASGI application: GraphQL (with GraphiQL and graphql-transport-ws), health checks."""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from redis.asyncio import Redis
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from adledger.app.exports import export_routes, signing_secret
from adledger.app.graphiql import graphiql_assets, offline_page, with_start
from adledger.app.graphql_http import (
    GRAPHQL_RESPONSE,
    accepted,
    graphql_response_sender,
    request_error,
    utf8_text,
)
from adledger.app.limits import BodyLimit
from adledger.app.logs import RequestLog, configure_logging
from adledger.app.providers import build_provider, close_provider
from adledger.app.settings import Settings
from adledger.app.state import AppState
from adledger.app.webhooks import receive_stripe_event
from adledger.app.ws_limits import ConnectionSlots, LimitedTransportWSHandler, SocketContext
from adledger.resolvers.context import RequestContext
from adledger.resolvers.exports import ExportDesk
from adledger.resolvers.pubsub_hub import PubSubHub
from adledger.resolvers.rate_limit import PointsBudget
from adledger.resolvers.root import build_schema
from adledger.services.users import TokenCache
from adledger.services.webhook_endpoints import TargetRules
from adledger.store.db import make_engine, make_sessionmaker


class AdledgerGraphQL(GraphQL):  # type: ignore[type-arg]
    graphql_transport_ws_handler_class = LimitedTransportWSHandler

    def __init__(
        self, state_holder: dict[str, AppState], demo_token: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._state_holder = state_holder
        self._demo_token = demo_token
        self.connection_slots: ConnectionSlots | None = None  # set by the lifespan
        self.export_desk: ExportDesk | None = None  # set by create_app
        self._ide_page: str | None = None

    async def get_context(self, request: Request | WebSocket, response: Any) -> RequestContext:
        state, authorization = self._state_holder["state"], request.headers.get("authorization")
        if isinstance(request, WebSocket) and self.connection_slots is not None:
            context: RequestContext = SocketContext(state, authorization, self.connection_slots)
        else:
            context = RequestContext(state, authorization)
            context.http_response = response
        context.client_address = request.client.host if request.client else None
        context.export_desk = self.export_desk  # for createExport (resolvers/exports.py)
        return context

    async def on_ws_connect(self, context: RequestContext) -> UnsetType:
        if isinstance(context, SocketContext):
            await context.claim_slot()
        return UNSET  # a bare connection_ack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if accepted(Headers(scope=scope)) == GRAPHQL_RESPONSE:
            send = graphql_response_sender(send)
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            # strawberry answers these in plain text; a GraphQL client reads `errors`.
            response = request_error(exc.status_code, exc.reason)
        await response(scope, receive, send)

    @property
    def graphql_ide_html(self) -> str:
        if self._ide_page is None:
            self._ide_page = with_start(offline_page(super().graphql_ide_html), self._demo_token)
        return self._ide_page

    def decode_json(self, data: str | bytes) -> object:
        """Deeply nested JSON is a bad request (400), not a RecursionError (500)."""
        text = utf8_text(data) if isinstance(data, bytes) else data
        try:
            return json.loads(text)
        except RecursionError as exc:
            raise json.JSONDecodeError("the JSON is nested too deeply", "", 0) from exc


def create_app(settings: Settings, *, graphiql_demo_token: str | None = None) -> Starlette:
    """`graphiql_demo_token`: only `adledger dev` passes one, for GraphiQL's Headers tab."""
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("create_app needs DATABASE_URL and REDIS_URL")
    holder: dict[str, AppState] = {}
    budget = PointsBudget(
        settings.rate_limit_points,
        settings.rate_limit_integration_points,
        settings.rate_limit_window_seconds,
    )
    schema = build_schema(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_query_nodes=settings.max_query_nodes,
        max_fragment_spreads=settings.max_fragment_spreads,
        max_field_repeats=settings.max_field_repeats,
        max_query_cost=settings.max_query_cost,
        charge=budget,
    )
    graphql = AdledgerGraphQL(
        holder,
        graphiql_demo_token,
        schema=schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        # Only graphql-transport-ws: the legacy graphql-ws has no init timeout and accepts
        # repeated connection_init messages.
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=timedelta(seconds=settings.ws_connection_init_timeout_seconds),
        max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
    )
    graphql.export_desk = desk = ExportDesk(signing_secret(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url or "",
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            generic_plans=True,
        )
        redis = Redis.from_url(settings.redis_url or "")
        budget.start(redis)
        desk.start(redis)
        provider = build_provider(settings, redis)
        hub = PubSubHub(settings.redis_url or "")
        graphql.connection_slots = ConnectionSlots(redis, settings.ws_max_connections_per_token)
        graphql.connection_slots.start()
        holder["state"] = AppState(
            sessions=make_sessionmaker(engine),
            redis=redis,
            provider=provider,
            billing=settings.billing_config(),
            webhook_secret=settings.webhook_secret,
            webhook_tolerance=settings.webhook_tolerance_seconds,
            pubsub_hub=hub,
            tokens=TokenCache(settings.token_cache_seconds),
            read_engine=engine.execution_options(isolation_level="AUTOCOMMIT"),
            webhook_targets=TargetRules(allow_private=settings.webhook_allow_private_targets),
        )
        app.state.adledger = holder["state"]  # for the CLI and tests that drive the process
        try:
            yield
        finally:
            await graphql.connection_slots.aclose()
            await holder["state"].nudges.aclose()
            await hub.aclose()
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
            *export_routes(holder, desk),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            graphiql_assets(),
        ],
        middleware=[
            Middleware(RequestLog),  # first: a refused body gets its request id too
            Middleware(BodyLimit, limits=_body_limits(settings)),
        ],
        lifespan=lifespan,
    )


def _body_limits(settings: Settings) -> dict[str, int]:
    return {
        "/graphql": settings.max_graphql_body_bytes,
        "/webhooks/stripe": settings.max_webhook_body_bytes,
    }


def app_from_environment() -> Starlette:
    """For process managers (`adledger serve --workers N`, `uvicorn --factory`)."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)  # each process sets up its own
    app = create_app(settings)
    settle_heap()
    return app


def settle_heap() -> None:
    """For a process that is about to serve: what startup built (modules, the schema,
    SQLAlchemy's mappers: hundreds of thousands of objects that live as long as the
    process) leaves the garbage collector's view. A recordSpend batch allocates enough to
    set off several collections, and each full one walked all of it: about a tenth of the
    API's CPU under spend load (bench/spend.py).

    Then collections are made rarer. A request's garbage is freed by reference counting
    (schema/executor.py); the collector mostly walks the requests still in flight, and
    at the default pace (every 700 allocations) a 500-event batch set off dozens of
    collections, and the batches beside it were walked again in each: every 10,000 halves
    the collector's time under spend load."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


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
