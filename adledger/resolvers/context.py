"""What one GraphQL request carries: its caller, its database session and its DataLoaders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from graphql import GraphQLError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from adledger import faults
from adledger.domain.access import Permission, Role, role_allows
from adledger.domain.errors import InvariantBroken
from adledger.payments.port import PaymentProvider
from adledger.resolvers.loaders import Loaders
from adledger.resolvers.pubsub_hub import PubSubHub
from adledger.resolvers.wallet_nudges import WalletNudges
from adledger.schema.pages import PageArgs
from adledger.services import balance_guard, effects, outbox, users
from adledger.services.actor import Actor
from adledger.services.config import BillingConfig
from adledger.services.webhook_endpoints import TargetRules
from adledger.store import business_centers as centers
from adledger.store import invitations, wallets
from adledger.store.locks import RETRIES, LockScopeChanged

T = TypeVar("T")
log = logging.getLogger(__name__)


class ActivityLog(Protocol):
    """Which members this process already noted as active today (app/state.py)."""

    def first_today(self, user_id: int, today: date) -> bool: ...

    def forget(self, user_id: int) -> None: ...


class Services(Protocol):
    """What a request needs of the process: app/state.py's AppState is one. A protocol,
    so that this layer names what it uses without importing the app that wires it."""

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...
    @property
    def redis(self) -> Redis: ...
    @property
    def provider(self) -> PaymentProvider: ...
    @property
    def billing(self) -> BillingConfig: ...
    @property
    def pubsub_hub(self) -> PubSubHub | None: ...
    @property
    def activity(self) -> ActivityLog: ...
    @property
    def tokens(self) -> users.TokenCache: ...
    @property
    def read_engine(self) -> AsyncEngine | None: ...
    @property
    def webhook_targets(self) -> TargetRules: ...

    def wallet_channel(self, wallet_id: int) -> str: ...

    @property
    def nudges(self) -> WalletNudges: ...

    def now(self) -> datetime: ...


class RequestContext:
    # An HTTP request runs one operation: a query's reads may go without a transaction.
    # Operations of a WebSocket share the context (and its session), mutations included.
    autocommit_queries = True

    def __init__(self, state: Services, authorization: str | None) -> None:
        self.state = state
        self.authorization = authorization
        self.connection_params: dict[str, Any] | None = None
        self._session: AsyncSession | None = None
        # A query's AUTOCOMMIT connection (from `state.read_engine`): Core reads use it
        # directly, the session (if any) is bound to it.
        self._connection: AsyncConnection | None = None
        self._reads_only = False
        self._lock = asyncio.Lock()
        self._actor: Actor | None = None
        self._authenticated = False
        self._auth_lock = asyncio.Lock()
        self._loaders: Loaders | None = None
        self._wallets_seen: DataLoader[tuple[int, bool], Any] | None = None
        # Read along with an object (`visible_wallet`): the caller's role per business
        # center and balances per wallet, which the access checks and the balance use
        # before asking their DataLoaders. Forgotten with the DataLoaders.
        self._roles: dict[int, Role | None] = {}
        self._balances: dict[int, dict[str, int]] = {}
        # For the points budget (rate_limit.py): strawberry's temporal response of an HTTP
        # request (a 429 sets its status), the client's address, what the operation was charged.
        self.http_response: Any = None
        self.client_address: str | None = None
        self.charged: Any = None
        # The effects this request's commits declared and ran (services/effects.py).
        self.effects_run: dict[str, effects.Ran] = {}

    @property
    def loaders(self) -> Loaders:
        """Built on first use: a request that reads nothing does not build them."""
        if self._loaders is None:
            self._loaders = Loaders(self.read, self.state.now, self.actor)
        return self._loaders

    def _forget_loaded(self) -> None:
        """New DataLoaders on next use: what they cached may have changed."""
        self._loaders = None
        self._wallets_seen = None
        self._roles = {}
        self._balances = {}

    def query_operation(self) -> None:
        """The operation about to run is a query (the schema says so once it is parsed):
        its reads may use an AUTOCOMMIT connection, without BEGIN and ROLLBACK."""
        if self.autocommit_queries and self._session is None and self._connection is None:
            self._reads_only = self.state.read_engine is not None

    async def _current_session(self) -> AsyncSession:
        if self._session is None:
            if self._reads_only:
                self._session = self.state.sessions(bind=await self._read_connection())
            else:
                self._session = self.state.sessions()
        return self._session

    async def _read_connection(self) -> AsyncConnection:
        if self._connection is None:
            if self.state.read_engine is None:
                raise InvariantBroken("self.state.read_engine is not None")
            self._connection = await self.state.read_engine.connect()
        return self._connection

    async def read(self, fetch: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """One statement at a time on the request's session: sibling fields resolve
        concurrently, and an AsyncSession must not be used by two at once."""
        async with self._lock:
            return await fetch(await self._current_session())

    async def read_rows(self, fetch: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`read` for Core statements (plain rows, no ORM object): on the request's
        connection, without the session's bookkeeping."""
        async with self._lock:
            if self._reads_only:
                return await fetch(await self._read_connection())
            return await fetch(await (await self._current_session()).connection())

    async def write(self, run: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a service in a transaction and commit it; a domain error rolls back."""
        async with self._lock:
            if self._reads_only:  # a write never runs without a transaction
                self._reads_only = False
                await self._close()
            session = await self._current_session()
            result = await self._committed(session, run)
            declared = outbox.added(session)
            await self._read_after_commit()
        self._forget_loaded()
        if declared:
            await self._run_effects(declared)
        return result

    async def _read_after_commit(self) -> None:
        """What follows a commit reads (the answer) as a query does: on an AUTOCOMMIT
        connection, without a transaction of its own (no BEGIN, no ROLLBACK). A write
        that follows opens one again."""
        if self.autocommit_queries and self.state.read_engine is not None:
            await self._close()
            self._reads_only = True

    @staticmethod
    async def _committed(session: AsyncSession, run: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`run` committed; run again (up to RETRIES times) when it finds it must lock more
        than it chose (`LockScopeChanged`): a concurrent writer changed what it read."""
        for attempt in range(1, RETRIES + 1):
            try:
                result = await run(session)
                await balance_guard.settle(session)
                await session.commit()
                return result
            except BaseException as err:
                await session.rollback()
                outbox.added(session)  # declared in what was rolled back: nothing to run
                if not isinstance(err, LockScopeChanged) or attempt == RETRIES:
                    raise
        raise InvariantBroken("the last attempt returns or raises")

    async def _run_effects(self, keys: list[str]) -> None:
        """The effects the commit declared, at once and before the answer is rendered (it
        shows what they did); what fails or is cut short is left to the run-outbox job.
        How each went is kept for the resolver (`effect`)."""
        faults.hit("after-commit")
        tools = effects.Tools(self.write, self.state.provider, self.state.billing)
        self.effects_run.update(await effects.run_keys(tools, keys))

    def effect(self, key: str) -> effects.Ran:
        """How the effect of `key` went in this request (not run here: an empty Ran)."""
        return self.effects_run.get(key, effects.Ran())

    async def end_read(self) -> None:
        """Give the connection back and forget cached rows: the next read sees fresh data.
        Long-lived operations (subscriptions) call it between pushes."""
        await self.close()
        self._forget_loaded()

    async def close(self) -> None:
        """Waits for the statement in flight: every operation of a WebSocket shares this
        context, and one may end (and close) while another is mid-statement."""
        async with self._lock:
            await self._close()

    async def _close(self) -> None:
        session, connection = self._session, self._connection
        self._session = self._connection = None
        try:
            if session is not None:
                await session.close()
        finally:
            if connection is not None:
                await connection.close()

    def _authorization_sent(self) -> object:
        """The Authorization the client sent: the header, else (WebSocket) the
        connection_init payload's; None when it sent none."""
        header: object = self.authorization
        if header is None and self.connection_params:
            params = {str(k).lower(): v for k, v in self.connection_params.items()}
            header = params.get("authorization")
        return header

    def bearer_token(self) -> str | None:
        header = self._authorization_sent()
        if not isinstance(header, str) or not header.lower().startswith("bearer "):
            return None
        return header[7:].strip() or None

    async def actor(self) -> Actor | None:
        """Authenticate once per request, however many fields ask at the same time."""
        async with self._auth_lock:
            if not self._authenticated:
                token = self.bearer_token()
                if token is not None:
                    self._actor = await self._token_actor(users.hash_token(token))
                self._authenticated = True
                await self._note_activity(self._actor)
        return self._actor

    async def _token_actor(self, token_hash: str) -> Actor | None:
        """From the process's token cache, else the database (and then into the cache)."""
        actor = self.state.tokens.get(token_hash)
        if actor is None:
            actor = await self.read_rows(lambda c: users.actor_of_hash(c, token_hash))
            if actor is not None:
                self.state.tokens.put(token_hash, actor)
        return actor

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
            self.state.activity.forget(actor.user_id)  # the next request tries again
            log.exception("could not note member %s active today", actor.user_id)

    async def require_actor(self) -> Actor:
        actor = await self.actor()
        if actor is None and self._authorization_sent() is None:
            raise GraphQLError(
                "authentication required: send `Authorization: Bearer <token>`",
                extensions={"code": "UNAUTHENTICATED"},
            )
        if actor is None:
            raise GraphQLError(
                "this token matches no user (or the Authorization is not `Bearer <token>`): "
                "check it, or create one with `adledger users create`",
                extensions={"code": "INVALID_TOKEN"},
            )
        return actor

    async def can(self, center_id: int, permission: Permission) -> bool:
        actor = await self.require_actor()
        if center_id in self._roles:
            role = self._roles[center_id]
        else:
            role = await self.loaders.viewer_role.load(center_id)
        return role_allows(role, permission, is_staff=actor.is_staff)

    def balances_read(self, wallet_id: int) -> dict[str, int] | None:
        """The wallet's balances (as the `balances` DataLoader answers them) when they were
        read with the wallet, else None."""
        return self._balances.get(wallet_id)

    async def authorize(self, center_id: int, permission: Permission) -> None:
        if not await self.can(center_id, permission):
            raise GraphQLError(
                "your role in this business center may not see this",
                extensions={"code": "FORBIDDEN"},
            )

    async def visible_wallet(self, wallet_id: int, *, balances: bool = False) -> Any | None:
        """The wallet when the caller may read its business center, else None. One
        statement answers the wallet and the caller's role in its center (and, with
        `balances`, its balances), which the context keeps: the access checks and the
        balance that follow cost no statement."""
        await self.require_actor()
        if self._wallets_seen is None:
            self._wallets_seen = DataLoader(self._load_wallets_seen)
        row = await self._wallets_seen.load((wallet_id, balances))
        if row is None or not await self.can(row.business_center_id, Permission.READ):
            return None
        return row

    async def _load_wallets_seen(self, keys: list[tuple[int, bool]]) -> list[Any]:
        actor = await self.require_actor()
        ids = list(dict.fromkeys(wallet_id for wallet_id, _ in keys))
        sums = any(balances for _, balances in keys)
        rows = await self.read_rows(
            lambda c: wallets.wallets_seen_by(c, actor.user_id, ids, balances=sums)
        )
        found = self._note_seen(rows, sums)
        return [found.get(wallet_id) for wallet_id, _ in keys]

    def _note_seen(self, rows: list[Any], sums: bool) -> dict[int, Any]:
        found = {}
        for row in rows:
            found[row.id] = row
            self._roles[row.business_center_id] = Role(row.role) if row.role else None
            if sums:
                self._balances[row.id] = dict(zip(row.kinds or (), row.totals or (), strict=True))
        return found

    def seen_in_write(self, rows: list[Any]) -> dict[int, Any]:
        """Wallets a write read for its answer (`wallets.wallets_at_commit`, in its
        transaction, right before the commit), by id: their balances and the caller's
        roles are kept, and `visible_wallet` answers them without a statement, as they
        stood at the commit."""
        if self._wallets_seen is None:
            self._wallets_seen = DataLoader(self._load_wallets_seen)
        found = self._note_seen(rows, True)
        for wallet_id, row in found.items():
            self._wallets_seen.prime((wallet_id, True), row)
        return found

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

    def publish_wallets(self, wallet_ids: list[int]) -> None:
        """Tell every API process which wallets changed: after the commit, in the
        background (resolvers/wallet_nudges.py), best effort."""
        if wallet_ids:
            self.state.nudges.nudge(wallet_ids)
