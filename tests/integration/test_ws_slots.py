"""WebSocket connections per token, counted in Redis across API processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from adledger.app.ws_limits import ConnectionSlots, connections_key


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _token() -> str:
    return f"token-{uuid.uuid4().hex}"


async def test_a_token_gets_its_limit_of_slots_and_then_none(redis) -> None:
    slots, token = ConnectionSlots(redis, limit=2), _token()
    first, second = await slots.acquire(token), await slots.acquire(token)
    assert first is not None and second is not None
    assert await slots.acquire(token) is None
    assert await slots.acquire(_token()) is not None  # another token counts apart
    await slots.release(first)
    assert await slots.acquire(token) is not None


async def test_the_key_is_a_hash_of_the_token_and_expires(redis) -> None:
    slots, token = ConnectionSlots(redis, limit=2, stale_after_seconds=90), _token()
    await slots.acquire(token)
    keys = [key.decode() for key in await redis.keys("adledger:ws:connections:*")]
    assert connections_key(token) in keys
    assert not any(token in key for key in keys)
    assert 0 < await redis.ttl(connections_key(token)) <= 90


async def test_slots_left_by_a_dead_process_go_stale(redis) -> None:
    # given a token whose slots are all held by a process that stopped refreshing them
    slots, token = ConnectionSlots(redis, limit=2), _token()
    await redis.zadd(connections_key(token), {"dead-1": 0, "dead-2": 0})
    # when it connects again, then the stale slots make room
    assert await slots.acquire(token) is not None
    assert set(await redis.zrange(connections_key(token), 0, -1)) == {
        slot.member.encode() for slot in slots._live.values()
    }


async def test_the_heartbeat_keeps_live_slots_fresh(redis) -> None:
    # given a live slot whose score has grown old
    slots, token = ConnectionSlots(redis, limit=1, heartbeat_seconds=0.01), _token()
    slot = await slots.acquire(token)
    assert slot is not None
    await redis.zadd(connections_key(token), {slot.member: 0}, xx=True)
    # when the heartbeat runs, then the slot is fresh again
    slots.start()
    for _ in range(500):
        if await redis.zscore(slot.key, slot.member):
            break
        await asyncio.sleep(0.01)
    assert await redis.zscore(slot.key, slot.member)
    # and closing gives every slot back
    await slots.aclose()
    assert await redis.zcard(slot.key) == 0
    assert await slots.acquire(token) is not None


async def test_a_released_slot_is_not_refreshed_back(redis) -> None:
    slots, token = ConnectionSlots(redis, limit=1), _token()
    slot = await slots.acquire(token)
    assert slot is not None
    await slots.release(slot)
    await slots.refresh()
    assert await redis.zcard(slot.key) == 0
