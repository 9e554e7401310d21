"""Process-wide resources the app factory (asgi.py) and the commands build once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adledger import clock
from adledger.payments.port import PaymentProvider
from adledger.resolvers.pubsub_hub import PubSubHub
from adledger.resolvers.wallet_nudges import WalletNudges
from adledger.services import users
from adledger.services.config import BillingConfig
from adledger.services.webhook_endpoints import TargetRules


def wallet_channel(wallet_id: int, database: int = 0) -> str:
    """The Redis channel of a wallet's updates. Pub/sub channels are one namespace for the
    whole Redis server, whatever database a client selected: the database is in the name,
    so deployments (or test runs) sharing a server never nudge each other's subscribers."""
    return f"adledger:{database}:wallet:{wallet_id}"


def redis_database(redis: Redis) -> int:
    return int(redis.connection_pool.connection_kwargs.get("db") or 0)


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
    # Valid tokens' actors, kept a few seconds (a revoked token stops working within them).
    tokens: users.TokenCache = field(default_factory=lambda: users.TokenCache())
    # AUTOCOMMIT connections, for operations that only read: no BEGIN and no ROLLBACK
    # round trip. Each statement sees what was committed when it started, as it does in
    # the READ COMMITTED transaction a session otherwise opens. None: `sessions` only.
    read_engine: AsyncEngine | None = None
    # How a partner webhook endpoint's URL is checked when saved: public https only unless
    # WEBHOOK_ALLOW_PRIVATE_TARGETS (development, tests) allows http and local addresses.
    webhook_targets: TargetRules = field(default_factory=TargetRules)

    def wallet_channel(self, wallet_id: int) -> str:
        return wallet_channel(wallet_id, redis_database(self.redis))

    @cached_property
    def nudges(self) -> WalletNudges:
        """Publishes wallet updates after commits (made on first use; the app's lifespan
        closes it, publishing what is still waiting)."""
        return WalletNudges(self.redis, self.wallet_channel)

    def now(self) -> datetime:
        """The one clock (adledger/clock.py): every request's `now`."""
        return clock.now()


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

    def forget(self, user_id: int) -> None:
        """Its note could not be written: the next request tries again."""
        self.seen.discard(user_id)
