"""graphql-core's executor, made to let go of a request when its answer is built.

The executor keeps helpers bound to its own methods (`async_helpers`): it is a reference
cycle, so it and all it holds (the request's variables, coerced and raw, the context with
its session) outlive the request until the cyclic collector finds them. A recordSpend
batch is thousands of dicts; by then they sit in the oldest generation, and each full
collection walked them all (a sixth of the API's CPU under spend load, bench/spend.py).
Replacing the helpers once the operation has finished breaks the cycle, and the request
is freed by reference counting the moment its answer is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, NoReturn

from graphql.pyutils import AwaitableOrValue
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


def _finished(*_: Sequence[Awaitable[Any]]) -> NoReturn:
    raise RuntimeError("the operation has finished: no more work can join it")


RELEASED = GraphQLResolveInfoHelpers(gather=_finished, track=_finished)


class ReleasingExecutor(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially: bool | None = None) -> AwaitableOrValue[Any]:
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            return self._released_after(result)
        self.async_helpers = RELEASED
        return result

    async def _released_after(self, result: Awaitable[Any]) -> Any:
        try:
            return await result
        finally:
            self.async_helpers = RELEASED
