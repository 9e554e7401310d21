"""How much one token may hold over WebSockets (graphql-transport-ws on /graphql).

A token may keep at most `WS_MAX_CONNECTIONS_PER_TOKEN` sockets open, counted in Redis so
the limit holds across API processes: one sorted set per token (keyed by a hash of the
token, never the token), one member per open connection, scored with the Redis clock at
admission and refreshed by a heartbeat while the connection lives. A connection leaves its
set when it closes; a process that dies without saying so leaves members that stop being
refreshed, and admission drops members older than `STALE_AFTER_SECONDS`, so slots never
leak for longer than that.

The count happens at `connection_init`, where the token is authenticated (from the
connection params or the upgrade request's header). A socket without a valid token holds
no slot: it is acknowledged as before and its subscriptions are refused, and one that never
sends `connection_init` is closed after the init timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from adledger.app.state import AppState
from adledger.resolvers.context import RequestContext

log = logging.getLogger(__name__)

KEY_PREFIX = "adledger:ws:connections:"
HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 90  # three missed heartbeats: the process holding the slot is gone
REFRESH_BATCH = 500

TOO_MANY_CONNECTIONS = (4429, "too many connections for this token")
TRY_AGAIN_LATER = (1013, "try again later")

# Scores are the Redis server's clock, so API processes need not agree on the time.
_ACQUIRE = """
local now = tonumber(redis.call('TIME')[1])
local stale_after = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - stale_after)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], stale_after)
return 1
"""

# XX: a member that went stale meanwhile may have had its slot taken; it is not re-added.
_REFRESH = """
local now = tonumber(redis.call('TIME')[1])
local stale_after = tonumber(ARGV[#ARGV])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now, ARGV[i])
  redis.call('EXPIRE', key, stale_after)
end
return #KEYS
"""


def connections_key(token: str) -> str:
    return KEY_PREFIX + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Slot:
    key: str
    member: str


class ConnectionRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ConnectionSlots:
    """The slots this process's WebSockets hold, and the heartbeat that keeps them fresh."""

    def __init__(
        self,
        redis: Redis,
        limit: int,
        *,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        stale_after_seconds: int = STALE_AFTER_SECONDS,
    ) -> None:
        self.limit = limit
        self._redis = redis
        self._heartbeat_seconds = heartbeat_seconds
        self._stale_after = stale_after_seconds
        self._acquire = redis.register_script(_ACQUIRE)
        self._refresh = redis.register_script(_REFRESH)
        self._live: dict[str, Slot] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    async def acquire(self, token: str) -> Slot | None:
        """A slot for one more connection of `token`, or None when it has `limit` already."""
        slot = Slot(connections_key(token), uuid.uuid4().hex)
        admitted = await self._acquire(
            keys=[slot.key], args=[slot.member, self.limit, self._stale_after]
        )
        if not admitted:
            return None
        self._live[slot.member] = slot
        return slot

    async def release(self, slot: Slot) -> None:
        self._live.pop(slot.member, None)
        try:
            await self._redis.zrem(slot.key, slot.member)
        except Exception:
            # The member stops being refreshed and goes stale: the slot comes back later.
            log.warning("could not release a WebSocket slot", exc_info=True)

    async def refresh(self) -> None:
        """Mark every connection this process holds as alive now."""
        slots = list(self._live.values())
        for start in range(0, len(slots), REFRESH_BATCH):
            batch = slots[start : start + REFRESH_BATCH]
            await self._refresh(
                keys=[slot.key for slot in batch],
                args=[*(slot.member for slot in batch), self._stale_after],
            )

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="adledger-ws-heartbeat")

    async def aclose(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for slot in list(self._live.values()):
            await self.release(slot)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            try:
                await self.refresh()
            except Exception:
                log.warning("could not refresh WebSocket slots", exc_info=True)


class SocketContext(RequestContext):
    """The context of one WebSocket: every operation on the socket shares it, and it holds
    the socket's slot while its token has one."""

    autocommit_queries = False  # its operations share one session, mutations included

    def __init__(self, state: AppState, authorization: str | None, slots: ConnectionSlots):
        super().__init__(state, authorization)
        self._slots = slots
        self.slot: Slot | None = None

    async def claim_slot(self) -> None:
        """At connection_init: count the socket against its token, if it has a valid one."""
        actor = await self.actor()
        await self.end_read()  # an idle socket holds no database connection
        token = self.bearer_token()
        if actor is None or token is None:
            return
        try:
            self.slot = await self._slots.acquire(token)
        except Exception:
            log.warning("could not count a WebSocket connection", exc_info=True)
            raise ConnectionRefused(*TRY_AGAIN_LATER) from None
        if self.slot is None:
            raise ConnectionRefused(*TOO_MANY_CONNECTIONS)

    async def release_slot(self) -> None:
        slot, self.slot = self.slot, None
        if slot is not None:
            await self._slots.release(slot)


class LimitedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """strawberry's graphql-transport-ws handler, closing a refused socket with our code
    and giving the socket's slot back however the socket ends."""

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            if isinstance(self.context, SocketContext):
                await self.context.release_slot()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except ConnectionRefused as refused:
            await self.websocket.close(code=refused.code, reason=refused.reason)
