"""createExport, and what it shares with the download route (app/exports.py): the export
desk (the secret that signs links, the count of exports per member), and how an
export's arguments are checked.

Exports are counted per member (every token of a member together, as the points budget
counts them: a second token is not a second allowance), EXPORTS_PER_MINUTE in a fixed
window of a minute that starts at the first export, in Redis, so every API process counts
the same. `createExport` calls and direct downloads with a token count; a download
through a signed link does not (its createExport did). When Redis cannot be reached the
export is let through: the count protects the API's capacity, it guards no money.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from graphql import GraphQLError
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis
from strawberry.types import Info

from adledger import clock
from adledger.domain import exports as rules
from adledger.domain.errors import DomainError, InvariantBroken
from adledger.domain.exports import ExportKind, ExportSpec
from adledger.resolvers.context import RequestContext
from adledger.resolvers.mutation import decode_id, user_error
from adledger.resolvers.rate_limit import RATE_LIMITED
from adledger.schema import results
from adledger.schema.exports import CreateExportInput, CreateExportSuccess
from adledger.services import access
from adledger.services import exports as export_service
from adledger.services.actor import Actor

log = logging.getLogger(__name__)
INPUT = ("input",)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Past the count: how many a window allows, and when it starts again."""

    limit: int
    reset_at: datetime
    retry_after: int  # whole seconds, at least 1

    def message(self) -> str:
        return (
            f"at most {self.limit} exports a minute; try again in {self.retry_after} s "
            "(a signed link already made may still be opened)"
        )


class ExportDesk:
    """One per app (asgi.py): `start` it with the app's Redis."""

    def __init__(self, secret: bytes, per_minute: int = rules.EXPORTS_PER_MINUTE) -> None:
        self.secret = secret
        self.item = RateLimitItemPerMinute(per_minute, namespace="ADLEDGER-EXPORTS")
        self._limiter: FixedWindowRateLimiter | None = None

    def start(self, redis: Redis) -> None:
        storage = RedisStorage(
            "async+redis://", implementation="redispy", connection_pool=redis.connection_pool
        )
        self._limiter = FixedWindowRateLimiter(storage)

    async def count(self, actor: Actor) -> Refusal | None:
        """Count one export of the actor's; a Refusal when it is past the allowance."""
        if self._limiter is None:
            raise InvariantBroken("the export desk is started with the app")
        key = f"member:{actor.user_id}"
        try:
            if await self._limiter.hit(self.item, key):
                return None
            stats = await self._limiter.get_window_stats(self.item, key)
        except Exception:
            log.warning("could not count an export; letting it through", exc_info=True)
            return None
        seconds = max(stats.reset_time - time.time(), 0.0)  # limits' windows are real time
        return Refusal(
            self.item.amount,
            clock.now() + timedelta(seconds=seconds),
            max(1, math.ceil(seconds)),
        )


def desk_of(context: RequestContext) -> ExportDesk:
    """The app gives every request context its desk (asgi.py `get_context`)."""
    desk = getattr(context, "export_desk", None)
    if not isinstance(desk, ExportDesk):
        raise InvariantBroken("the request context carries the app's export desk")
    return desk


def parse_spec(
    kind: ExportKind,
    wallet_gid: str | None,
    center_gid: str | None,
    start: datetime,
    end: datetime,
    prefix: rules.Field,
) -> ExportSpec:
    """The export asked for, checked: the scope, then the range, then the ids (an id of
    nothing is NOT_FOUND, as in every mutation)."""
    rules.check_scope(kind, wallet_gid is not None, center_gid is not None, prefix)
    start, end = rules.check_range(start, end, prefix)
    wallet_id = center_id = None
    if wallet_gid is not None:
        wallet_id = decode_id(wallet_gid, "Wallet", (*prefix, export_service.WALLET_PARAMETER))
    if center_gid is not None:
        field = (*prefix, export_service.CENTER_PARAMETER)
        center_id = decode_id(center_gid, "BusinessCenter", field)
    return ExportSpec(kind, wallet_id, center_id, start, end)


def rate_limited(refusal: Refusal) -> GraphQLError:
    """The code the API answers for every rate limit (docs/api.md, "Points budget")."""
    return GraphQLError(
        refusal.message(),
        extensions={
            "code": RATE_LIMITED,
            "limit": refusal.limit,
            "remaining": 0,
            "resetAt": refusal.reset_at.isoformat(),
            "retryAfter": refusal.retry_after,
        },
    )


async def create_export(info: Info, input: CreateExportInput) -> results.CreateExportResult:
    ctx = info.context
    actor = await ctx.require_actor()
    desk = desk_of(ctx)
    try:
        access.refuse_integration(actor)  # before anything is counted or looked up
        refusal = await desk.count(actor)
        if refusal is not None:
            _answer_429(ctx, refusal)
            raise rate_limited(refusal)
        spec = parse_spec(
            ExportKind(input.kind),
            input.wallet_id,
            input.business_center_id,
            input.from_,
            input.to,
            INPUT,
        )
        await ctx.read_rows(lambda c: export_service.authorize(c, actor, spec, INPUT))
    except DomainError as err:
        return user_error(err, results.CreateExportResult)
    link = export_service.signed_link(spec, actor.user_id, ctx.state.now(), desk.secret)
    return CreateExportSuccess(url=link.url, expires_at=link.expires_at)


def _answer_429(context: RequestContext, refusal: Refusal) -> None:
    """Over HTTP, as the points budget answers (a WebSocket has no status)."""
    response = context.http_response
    if response is not None:
        response.status_code = 429
        response.headers["Retry-After"] = str(refusal.retry_after)
