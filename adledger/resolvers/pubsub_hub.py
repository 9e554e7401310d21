"""One Redis pub/sub connection per process, shared by every subscription of the process.

A subscription registers a `Listener` on a channel; the hub subscribes to the channel in
Redis when its first listener arrives and unsubscribes when its last one leaves. One task
reads the connection and wakes the listeners of each message's channel; another sends the
SUBSCRIBE/UNSUBSCRIBE commands that bring Redis in line with the listeners. If the
connection drops, both stop, the hub reconnects (with backoff), subscribes again to every
channel that has listeners and wakes them all, since they may have missed a message. A
connection that goes quiet is asked for a PING, and one that does not answer counts as
dropped: a half-open TCP connection would otherwise keep the listeners waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger(__name__)

CLIENT_NAME = "adledger-pubsub"
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 10.0
IDLE_PING_SECONDS = 30.0


class Listener:
    """What one subscription waits on: a queue of at most one pending notification.

    A notification only says "look again", so while one is pending more of them add
    nothing: a slow consumer costs no memory, it sees the latest state when it looks."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._pending = asyncio.Event()
        self._closed = False

    @property
    def pending(self) -> bool:
        return self._pending.is_set() and not self._closed

    def notify(self) -> None:
        self._pending.set()

    def close(self) -> None:
        self._closed = True
        self._pending.set()

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> None:
        await self._pending.wait()
        if self._closed:
            raise StopAsyncIteration
        self._pending.clear()


class PubSubHub:
    def __init__(
        self,
        redis_url: str,
        *,
        client_name: str = CLIENT_NAME,
        idle_ping_seconds: float = IDLE_PING_SECONDS,
    ) -> None:
        # Its own client, named, so an operator sees the one pub/sub connection in CLIENT LIST.
        self._redis = Redis.from_url(redis_url, client_name=client_name)
        self._idle_ping_seconds = idle_ping_seconds
        self._listeners: dict[str, set[Listener]] = {}
        self._subscribed: set[str] = set()  # channels SUBSCRIBEd on the current connection
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def listener_count(self, channel: str) -> int:
        return len(self._listeners.get(channel, ()))

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[Listener]:
        """Wake the yielded listener on each message of `channel` until the block ends."""
        if self._closed:
            raise RuntimeError("the pub/sub hub is closed")
        listener = Listener(channel)
        self._listeners.setdefault(channel, set()).add(listener)
        self._changed.set()
        if self._task is None:  # no connection until a first subscription needs one
            self._task = asyncio.create_task(self._run(), name="adledger-pubsub-hub")
        try:
            yield listener
        finally:
            # Synchronous, so a cancelled subscription cannot leave its listener behind;
            # the UNSUBSCRIBE itself is the hub's business.
            listeners = self._listeners.get(channel, set())
            listeners.discard(listener)
            if not listeners:
                self._listeners.pop(channel, None)
                self._changed.set()

    async def aclose(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for listeners in self._listeners.values():
            for listener in listeners:
                listener.close()
        self._listeners.clear()
        await self._redis.aclose()

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        reconnecting = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.connect()
                delay = RETRY_FIRST_SECONDS
                self._subscribed = set()
                self._changed.set()
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._read(pubsub))
                    tasks.create_task(self._keep_in_sync(pubsub, wake_all=reconnecting))
            except* Exception:
                log.warning(
                    "Redis pub/sub connection lost; reconnecting in %.1fs", delay, exc_info=True
                )
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            reconnecting = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _read(self, pubsub: PubSub) -> None:
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=self._idle_ping_seconds)
            if message is None:  # quiet for a while: is anyone there?
                if pinged:
                    raise RedisConnectionError("Redis did not answer a PING on pub/sub")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            if message.get("type") != "message":
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            for listener in self._listeners.get(channel, ()):
                listener.notify()

    async def _keep_in_sync(self, pubsub: PubSub, *, wake_all: bool) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            wanted = set(self._listeners)
            if added := wanted - self._subscribed:
                await pubsub.subscribe(*sorted(added))
                self._subscribed |= added
            if dropped := self._subscribed - wanted:
                await pubsub.unsubscribe(*sorted(dropped))
                self._subscribed -= dropped
            if wake_all:  # after a reconnection: messages may have been lost meanwhile
                wake_all = False
                for listeners in list(self._listeners.values()):
                    for listener in listeners:
                        listener.notify()
