"""A points budget per caller, shared by every API process through Redis (GitHub's model).

Each operation is charged its cost (schema/cost.py: the nodes its answer could hold, at
least 1) before any resolver runs; `recordSpend` at least one point per event of its
batches, whatever it selects. The budget is a fixed window (`limits`' FixedWindowRateLimiter:
one counter per caller and window in Redis, so a charge is one round trip whatever it
costs): RATE_LIMIT_POINTS per RATE_LIMIT_WINDOW_SECONDS for a member, the larger
RATE_LIMIT_INTEGRATION_POINTS for the ad server's integration token. A member's tokens
share the member's budget (a second token is not a second budget). A request with no
valid token is charged to its client address ("anonymous:<ip>", the member budget): behind
a proxy every anonymous caller shares one, which only introspection and refused requests
use.

Past the budget the operation is refused, RATE_LIMITED, with the limit and when the window
resets; over HTTP with status 429 and `Retry-After`. A charge the budget refused still
counts (the window's counter only grows), so a caller hammering past its budget stays
refused until the window resets. When Redis cannot be reached the request is let through:
the budget protects the API's capacity, it guards no money.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    ValueNode,
    VariableNode,
)
from graphql.utilities import get_operation_ast
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from adledger import clock
from adledger.domain.errors import InvariantBroken
from adledger.resolvers.context import RequestContext
from adledger.schema.rate_limit import RateLimit
from adledger.services.actor import Actor

log = logging.getLogger(__name__)
RATE_LIMITED = "RATE_LIMITED"


@dataclass(frozen=True, slots=True)
class Charge:
    """What one operation was charged, to which caller's budget."""

    cost: int
    key: str
    item: RateLimitItem
    allowed: bool
    budget: PointsBudget


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a budget stands: what is left of the window and when it resets."""

    limit: int
    remaining: int
    reset_at: datetime
    retry_after: int  # whole seconds until the reset, at least 1


class PointsBudget:
    """The process's handle on the shared budgets; `start` it with the app's Redis."""

    def __init__(self, member_points: int, integration_points: int, window_seconds: int) -> None:
        self.member = RateLimitItemPerSecond(member_points, window_seconds, namespace="ADLEDGER")
        self.integration = RateLimitItemPerSecond(
            integration_points, window_seconds, namespace="ADLEDGER"
        )
        self._limiter: FixedWindowRateLimiter | None = None

    def start(self, redis: Redis) -> None:
        """Counters on the app's own Redis connections (and database)."""
        storage = RedisStorage(
            "async+redis://", implementation="redispy", connection_pool=redis.connection_pool
        )
        self._limiter = FixedWindowRateLimiter(storage)

    async def __call__(self, execution: ExecutionContext, cost: int) -> GraphQLError | None:
        """The schema's charger (schema/cost.py): charge the operation, or refuse it."""
        context = execution.context
        if self._limiter is None or not isinstance(context, RequestContext):
            return None
        if execution.operation_type is OperationType.QUERY:
            context.query_operation()  # the token lookup below may read: without BEGIN
        charge = await self._charge(context, _batch_cost(execution, cost))
        context.charged = charge
        if charge is None or charge.allowed:
            return None
        standing = await self.standing(charge)
        _answer_429(context, standing)
        return rate_limited(standing)

    async def _charge(self, context: RequestContext, cost: int) -> Charge | None:
        if self._limiter is None:
            raise InvariantBroken("self._limiter is not None")
        actor = await context.actor()
        key, item = self._account(actor, context.client_address)
        try:
            allowed = await self._limiter.hit(item, key, cost=cost)
        except Exception:
            log.warning("could not charge the points budget; letting the request through")
            return None
        return Charge(cost, key, item, allowed, self)

    def _account(self, actor: Actor | None, client: str | None) -> tuple[str, RateLimitItem]:
        if actor is None:
            return f"anonymous:{client or 'unknown'}", self.member
        if actor.is_integration:
            return f"integration:{actor.user_id}", self.integration
        return f"member:{actor.user_id}", self.member

    async def standing(self, charge: Charge) -> Standing:
        if self._limiter is None:
            raise InvariantBroken("self._limiter is not None")
        stats = await self._limiter.get_window_stats(charge.item, charge.key)
        seconds = max(stats.reset_time - time.time(), 0.0)  # limits' windows are real time
        return Standing(
            limit=charge.item.amount,
            remaining=stats.remaining,
            reset_at=clock.now() + timedelta(seconds=seconds),
            retry_after=max(1, math.ceil(seconds)),
        )


async def rate_limit_of(context: RequestContext) -> RateLimit:
    """Query.rateLimit: the cost of the operation it is part of, and what is left of the
    budget once it was charged."""
    charge = context.charged
    if not isinstance(charge, Charge):
        raise GraphQLError(
            "the points budget cannot be read right now", extensions={"code": "UNAVAILABLE"}
        )
    standing = await charge.budget.standing(charge)
    return RateLimit(
        cost=charge.cost,
        limit=standing.limit,
        remaining=standing.remaining,
        reset_at=standing.reset_at,
    )


def rate_limited(standing: Standing) -> GraphQLError:
    return GraphQLError(
        f"the points budget of this token ({standing.limit} a window) is spent; it resets "
        f"in {standing.retry_after} s",
        extensions={
            "code": RATE_LIMITED,
            "limit": standing.limit,
            "remaining": 0,
            "resetAt": standing.reset_at.isoformat(),
            "retryAfter": standing.retry_after,
        },
    )


def _answer_429(context: RequestContext, standing: Standing) -> None:
    """Over HTTP (a WebSocket has no status: the error says it all)."""
    response = context.http_response
    if response is None:
        return
    response.status_code = 429
    response.headers["Retry-After"] = str(standing.retry_after)


def _batch_cost(execution: ExecutionContext, cost: int) -> int:
    """`recordSpend` costs at least one point per event of its batch."""
    document = execution.graphql_document
    operation = None if document is None else get_operation_ast(document, execution.operation_name)
    if operation is None or operation.operation.value != "mutation":
        return cost
    return max(cost, _events(operation, execution.variables or {}))


def _events(operation: OperationDefinitionNode, variables: dict[str, Any]) -> int:
    total = 0
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode) and selection.name.value == "recordSpend":
            argument = next((a for a in selection.arguments if a.name.value == "input"), None)
            total += 0 if argument is None else _input_events(argument.value, variables)
    return total


def _input_events(value: ValueNode, variables: dict[str, Any]) -> int:
    if isinstance(value, VariableNode):
        given = variables.get(value.name.value)
        events = given.get("events") if isinstance(given, dict) else None
        return len(events) if isinstance(events, list) else 0
    if isinstance(value, ObjectValueNode):
        field = next((f for f in value.fields if f.name.value == "events"), None)
        return 0 if field is None else _list_length(field.value, variables)
    return 0


def _list_length(value: ValueNode, variables: dict[str, Any]) -> int:
    if isinstance(value, ListValueNode):
        return len(value.values)
    if isinstance(value, VariableNode):
        given = variables.get(value.name.value)
        return len(given) if isinstance(given, list) else 0
    return 0
