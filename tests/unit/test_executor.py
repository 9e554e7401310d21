"""The executor lets go of a request once its answer is built: the request's variables
and context are freed by reference counting, not left to the cyclic collector."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator, Iterator

import pytest
import strawberry

from adledger.schema.executor import ReleasingExecutor


class Context:
    """What a request's context holds (its session, its caller): here, only itself."""


class Words(list[str]):
    """A list that a weak reference can watch."""


@strawberry.type
class Query:
    @strawberry.field
    async def echo(self, info: strawberry.Info, words: list[str]) -> int:
        assert isinstance(info.context, Context)
        return len(words)

    @strawberry.field
    def plain(self) -> int:
        return 1


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self, count: int) -> AsyncIterator[int]:
        for n in range(count):
            yield n


@pytest.fixture
def no_cyclic_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


SCHEMA = strawberry.Schema(
    Query, subscription=Subscription, execution_context_class=ReleasingExecutor
)


@pytest.mark.usefixtures("no_cyclic_collector")
@pytest.mark.parametrize("query", ["query($w: [String!]!) { echo(words: $w) }", "{ plain }"])
async def test_a_finished_request_is_freed_without_the_cyclic_collector(query: str) -> None:
    # given a request with a context and variables
    context, words = Context(), Words(["a"] * 1000)
    context_gone, words_gone = weakref.ref(context), weakref.ref(words)
    # when it is executed and the caller drops its own references
    result = await SCHEMA.execute(query, variable_values={"w": words}, context_value=context)
    del context, words
    # then its answer is right and nothing of it outlives it
    assert result.errors is None
    assert context_gone() is None
    assert words_gone() is None


async def test_a_subscription_still_answers_every_event() -> None:
    # given a subscription of three events
    answers = await SCHEMA.subscribe("subscription { ticks(count: 3) }")
    # then each event is executed on its own, after the ones before were released
    assert [answer.data async for answer in answers] == [{"ticks": n} for n in range(3)]  # type: ignore[union-attr]
