"""Tell every API process which wallets changed, in the background and coalesced.

A `walletUpdated` notification only says "look again" (pubsub_hub.Listener keeps at most one
pending), so a wallet that changed several times before it was published needs one message,
and the wallets that requests committed while a publish was in flight go out together on
the next one. The answer of a mutation does not wait for its publish: a notification is
best effort (a lost one delays a screen update, it never changes money), and publishing
from the request cost a Redis round trip on every money mutation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from redis.asyncio import Redis

log = logging.getLogger(__name__)

MAX_PER_PUBLISH = 500
"""Channels one pipeline publishes; more wait for the next round."""


class WalletNudges:
    def __init__(self, redis: Redis, channel_of: Callable[[int], str]) -> None:
        self._redis, self._channel_of = redis, channel_of
        self._waiting: dict[int, None] = {}  # wallet ids, in the order they came
        self._publishing: asyncio.Task[None] | None = None
        self._closed = False

    def nudge(self, wallet_ids: Iterable[int]) -> None:
        """Publish these wallets' updates soon (after the caller's commit)."""
        if self._closed:
            return
        self._waiting.update(dict.fromkeys(wallet_ids))
        if self._waiting and self._publishing is None:
            self._publishing = asyncio.get_running_loop().create_task(self._publish_waiting())

    async def _publish_waiting(self) -> None:
        try:
            while self._waiting:
                wallet_ids = list(self._waiting)[:MAX_PER_PUBLISH]
                for wallet_id in wallet_ids:
                    del self._waiting[wallet_id]
                await self._publish(wallet_ids)
        finally:
            self._publishing = None

    async def _publish(self, wallet_ids: list[int]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for wallet_id in wallet_ids:  # one round trip for all of them
                    pipe.publish(self._channel_of(wallet_id), "updated")
                await pipe.execute()
        except Exception:
            log.warning("could not publish %d wallet update(s)", len(wallet_ids), exc_info=True)

    async def aclose(self) -> None:
        """Publish what is waiting, then take no more (the process is stopping)."""
        self._closed = True
        if self._publishing is not None:
            await self._publishing
