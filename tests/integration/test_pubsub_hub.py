"""The process's one Redis pub/sub connection, shared by every subscription."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from adledger.resolvers.pubsub_hub import Listener, PubSubHub


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def hub(redis_url: str) -> AsyncIterator[PubSubHub]:
    # A name of its own, so the test finds this hub's connection and no other.
    hub = PubSubHub(redis_url, client_name=f"adledger-pubsub-test-{uuid.uuid4().hex[:8]}")
    yield hub
    await hub.aclose()


def _channel() -> str:
    return f"adledger:test:{uuid.uuid4().hex}"


async def _until_subscribed(redis: Redis, *channels: str) -> None:
    for _ in range(200):
        if all(count >= 1 for _, count in await redis.pubsub_numsub(*channels)):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never subscribed to {channels}")


async def _next(listener: Listener) -> None:
    await asyncio.wait_for(anext(listener), timeout=10)


async def test_a_slow_listener_keeps_one_pending_notification(hub, redis) -> None:
    # given a listener that does not consume, and a second channel to mark the end
    slow, marker = _channel(), _channel()
    async with hub.listen(slow) as lagging, hub.listen(marker) as done:
        await _until_subscribed(redis, slow, marker)
        # when five notifications arrive for it, then one on the marker channel
        for _ in range(5):
            await redis.publish(slow, "updated")
        await redis.publish(marker, "updated")
        await _next(done)  # one connection, read in order: the five came before
        # then it has one pending, and after taking it, none
        assert lagging.pending
        await _next(lagging)
        assert not lagging.pending


async def test_the_hub_reconnects_and_wakes_its_listeners(hub, redis, caplog) -> None:
    # given a listener
    channel = _channel()
    async with hub.listen(channel) as listener:
        await _until_subscribed(redis, channel)
        # when Redis drops the hub's connection
        name = hub._redis.connection_pool.connection_kwargs["client_name"]
        [client] = [c for c in await redis.client_list() if c["name"] == name]
        with caplog.at_level(logging.WARNING, logger="adledger.resolvers.pubsub_hub"):
            await redis.client_kill_filter(_id=client["id"])
            # then the listener is woken once reconnected (it may have missed a message)
            await _next(listener)
        await _until_subscribed(redis, channel)
        # and later messages arrive as before
        await redis.publish(channel, "updated")
        await _next(listener)
    assert any("reconnecting" in record.getMessage() for record in caplog.records)


async def test_closing_the_hub_ends_its_listeners(redis_url, redis) -> None:
    hub = PubSubHub(redis_url)
    channel = _channel()
    async with hub.listen(channel) as listener:
        await _until_subscribed(redis, channel)
        waiting = asyncio.create_task(anext(listener))
        await hub.aclose()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, timeout=10)


class _SilentPubSub:
    """A connection that stopped answering, as a half-open TCP connection does."""

    def __init__(self) -> None:
        self.pings = 0

    async def get_message(self, **_: object) -> None:
        await asyncio.sleep(0)
        return None

    async def ping(self) -> None:
        self.pings += 1


async def test_a_connection_that_does_not_answer_a_ping_counts_as_dropped(hub) -> None:
    silent = _SilentPubSub()
    with pytest.raises(RedisConnectionError, match="did not answer a PING"):
        await hub._read(silent)
    assert silent.pings == 1


async def test_a_quiet_connection_that_answers_stays(redis_url, redis, caplog) -> None:
    # given a hub that pings after a very short silence
    hub = PubSubHub(redis_url, idle_ping_seconds=0.02)
    channel = _channel()
    try:
        with caplog.at_level(logging.WARNING, logger="adledger.resolvers.pubsub_hub"):
            async with hub.listen(channel) as listener:
                await _until_subscribed(redis, channel)
                # when it stays quiet for many pings
                for _ in range(20):
                    await asyncio.sleep(0.02)
                # then the connection is kept, and messages still arrive
                await redis.publish(channel, "updated")
                await _next(listener)
    finally:
        await hub.aclose()
    assert [r.getMessage() for r in caplog.records if r.name.endswith("pubsub_hub")] == []
