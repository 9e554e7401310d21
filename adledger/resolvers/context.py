"""What one GraphQL request carries: its caller, its database session and its DataLoaders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from graphql import GraphQLError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger.domain.access import Permission, role_allows
from adledger.payments.port import PaymentProvider
from adledger.resolvers.loaders import Loaders
from adledger.resolvers.pubsub_hub import PubSubHub
from adledger.schema.pages import PageArgs
from adledger.services import users
from adledger.services.actor import Actor
from adledger.services.config import BillingConfig
from adledger.store import business_centers as centers
from adledger.store import invitations

T = TypeVar("T")
log = logging.getLogger(__name__)


def wallet_channel(wallet_id: int) -> str:
    return f"adledger:wallet:{wallet_id}"


@dataclass
class AppState:
    """Process-wide resources the app factory builds once."""

    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    provider: PaymentProvider
    billing: BillingConfig
    webhook_secret: str | None = None
    webhook_tolerance: int = 300
    # The process's one Redis pub/sub connection; only the ASGI app serves subscriptions.
    pubsub_hub: PubSubHub | None = None
    activity: ActivityNotes = field(default_factory=lambda: ActivityNotes())

    def now(self) -> datetime:
        return datetime.now(UTC)


class ActivityNotes:
    """The members already noted as active today by this process: a member's first
    authenticated request of a day is written down (the inactivity refund), the others
    cost nothing."""

    def __init__(self) -> None:
        self.day: date | None = None
        self.seen: set[int] = set()

    def first_today(self, user_id: int, today: date) -> bool:
        if today != self.day:
            self.day, self.seen = today, set()
        if user_id in self.seen:
            return False
        self.seen.add(user_id)
        return True


class RequestContext:
    def __init__(self, state: AppState, authorization: str | None) -> None:
        self.state = state
        self.authorization = authorization
        self.connection_params: dict[str, Any] | None = None
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        self._actor: Actor | None = None
        self._authenticated = False
        self._auth_lock = asyncio.Lock()
        self.loaders = Loaders(self)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.state.sessions()
        return self._session

    async def read(self, fetch: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """One statement at a time on the request's session: sibling fields resolve
        concurrently, and an AsyncSession must not be used by two at once."""
        async with self._lock:
            return await fetch(self.session)

    async def write(self, run: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a service in a transaction and commit it; a domain error rolls back."""
        async with self._lock:
            try:
                result = await run(self.session)
                await self.session.commit()
            except BaseException:
                await self.session.rollback()
                raise
        self.loaders = Loaders(self)
        return result

    async def end_read(self) -> None:
        """Give the connection back and forget cached rows: the next read sees fresh data.
        Long-lived operations (subscriptions) call it between pushes."""
        await self.close()
        self.loaders = Loaders(self)

    async def close(self) -> None:
        """Waits for the statement in flight: every operation of a WebSocket shares this
        context, and one may end (and close) while another is mid-statement."""
        async with self._lock:
            if self._session is not None:
                await self._session.close()
                self._session = None

    def bearer_token(self) -> str | None:
        header = self.authorization
        if header is None and self.connection_params:
            params = {str(k).lower(): v for k, v in self.connection_params.items()}
            header = params.get("authorization")
        if not isinstance(header, str) or not header.lower().startswith("bearer "):
            return None
        return header[7:].strip() or None

    async def actor(self) -> Actor | None:
        """Authenticate once per request, however many fields ask at the same time."""
        async with self._auth_lock:
            if not self._authenticated:
                token = self.bearer_token()
                if token is not None:
                    self._actor = await self.read(lambda s: users.authenticate(s, token))
                self._authenticated = True
                await self._note_activity(self._actor)
        return self._actor

    async def _note_activity(self, actor: Actor | None) -> None:
        """In its own short transaction, not the request's (which may only read)."""
        if actor is None or actor.is_staff or actor.is_integration:
            return
        today = self.state.now().date()
        if not self.state.activity.first_today(actor.user_id, today):
            return
        try:
            async with self.state.sessions() as session:
                await users.note_activity(session, actor.user_id, today)
                await session.commit()
        except Exception:
            self.state.activity.seen.discard(actor.user_id)  # the next request tries again
            log.exception("could not note member %s active today", actor.user_id)

    async def require_actor(self) -> Actor:
        actor = await self.actor()
        if actor is None:
            raise GraphQLError(
                "authentication required: send `Authorization: Bearer <token>`",
                extensions={"code": "UNAUTHENTICATED"},
            )
        return actor

    async def can(self, center_id: int, permission: Permission) -> bool:
        actor = await self.require_actor()
        role = await self.loaders.viewer_role.load(center_id)
        return role_allows(role, permission, is_staff=actor.is_staff)

    async def authorize(self, center_id: int, permission: Permission) -> None:
        if not await self.can(center_id, permission):
            raise GraphQLError(
                "your role in this business center may not see this",
                extensions={"code": "FORBIDDEN"},
            )

    async def viewer_business_centers(self, args: PageArgs) -> list[Any]:
        actor = await self.require_actor()
        user_id = None if actor.is_staff else actor.user_id
        return await self.read(
            lambda s: centers.page_business_centers(
                s, user_id, limit=args.fetch, after_id=args.after_id
            )
        )

    async def viewer_invitations(self) -> list[Any]:
        """Pending invitations addressed to the caller's email (never anyone else's)."""
        actor = await self.require_actor()
        email, now = actor.email.strip().lower(), self.state.now()
        return await self.read(lambda s: invitations.pending_for_email(s, email, now))

    async def publish_wallets(self, wallet_ids: list[int]) -> None:
        """Tell every API process which wallets changed. After the commit, and best effort:
        a lost notification delays a screen update, it never changes money."""
        try:
            for wallet_id in wallet_ids:
                await self.state.redis.publish(wallet_channel(wallet_id), "updated")
        except Exception:
            log.warning("could not publish wallet update", exc_info=True)
