"""Wallet updates are published after the answer, coalesced (resolvers/wallet_nudges.py)."""

from __future__ import annotations

import asyncio
import logging

from adledger.resolvers.wallet_nudges import WalletNudges


class _Pipeline:
    def __init__(self, redis: _Redis) -> None:
        self.redis, self.channels = redis, []

    async def __aenter__(self) -> _Pipeline:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def publish(self, channel: str, message: str) -> None:
        self.channels.append((channel, message))

    async def execute(self) -> None:
        await asyncio.sleep(0)  # a round trip: nudges arriving meanwhile wait for the next
        if self.redis.failures:
            self.redis.failures -= 1
            raise ConnectionError("redis went away")
        self.redis.published.append(self.channels)


class _Redis:
    def __init__(self, failures: int = 0) -> None:
        self.published: list[list[tuple[str, str]]] = []
        self.failures = failures

    def pipeline(self, transaction: bool) -> _Pipeline:
        assert transaction is False
        return _Pipeline(self)


def _nudges(redis: _Redis) -> WalletNudges:
    return WalletNudges(redis, lambda wallet_id: f"wallet:{wallet_id}")  # type: ignore[arg-type]


async def test_wallets_nudged_in_one_tick_go_out_once_each_in_one_round_trip() -> None:
    # given three requests committing in the same tick, two of them on wallet 1
    redis = _Redis()
    nudges = _nudges(redis)

    # when they nudge, then the process stops
    nudges.nudge([1, 2])
    nudges.nudge([1])
    nudges.nudge([3])
    await nudges.aclose()

    # then one pipeline told each wallet once
    assert redis.published == [
        [("wallet:1", "updated"), ("wallet:2", "updated"), ("wallet:3", "updated")]
    ]


async def test_wallets_nudged_during_a_publish_go_out_on_the_next_one() -> None:
    # given a publish in flight
    redis = _Redis()
    nudges = _nudges(redis)
    nudges.nudge([1])
    await asyncio.sleep(0)  # the publisher took wallet 1 and waits for Redis

    # when another wallet changes meanwhile
    nudges.nudge([2])
    await nudges.aclose()

    # then it follows in a second round trip
    assert redis.published == [[("wallet:1", "updated")], [("wallet:2", "updated")]]


async def test_a_failed_publish_is_logged_and_the_next_ones_still_go(caplog) -> None:
    # given a Redis whose first publish fails
    redis = _Redis(failures=1)
    nudges = _nudges(redis)

    # when two rounds of wallets change
    with caplog.at_level(logging.WARNING):
        nudges.nudge([1])
        await asyncio.sleep(0)
        nudges.nudge([2])
        await nudges.aclose()

    # then the first is lost with a warning, the second published
    assert redis.published == [[("wallet:2", "updated")]]
    assert "could not publish 1 wallet update(s)" in caplog.text


async def test_once_closed_nothing_is_published() -> None:
    redis = _Redis()
    nudges = _nudges(redis)
    await nudges.aclose()

    nudges.nudge([1])
    await asyncio.sleep(0)

    assert redis.published == []
