"""Users and API tokens. Only a token's SHA-256 is stored; the token is shown once."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from datetime import date

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from adledger.domain.errors import InvalidInput, InvalidState
from adledger.services.actor import Actor
from adledger.store import users as repo

TOKEN_PREFIX = "adl_"
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL_LENGTH = 320


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    session: AsyncSession, email: str, *, is_staff: bool = False, is_integration: bool = False
) -> str:
    """Create the user and return a new API token for it."""
    clean = email.strip().lower()
    if len(clean) > MAX_EMAIL_LENGTH or not _EMAIL_RE.fullmatch(clean):
        raise InvalidInput(f"{email!r} is not an email address", ("email",))
    if await repo.user_by_email(session, clean) is not None:
        raise InvalidState(f"a user with email {clean} exists", ("email",))
    if is_staff and is_integration:
        raise InvalidInput("a user is staff or an integration, not both", ("integration",))
    user = await repo.insert_user(session, clean, is_staff=is_staff, is_integration=is_integration)
    return await issue_token(session, user.id)


async def issue_token(session: AsyncSession, user_id: int) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await repo.insert_token(session, user_id, hash_token(token))
    return token


async def authenticate(session: AsyncSession, token: str) -> Actor | None:
    return await actor_of_hash(session, hash_token(token))


async def actor_of_hash(session: AsyncSession | AsyncConnection, token_hash: str) -> Actor | None:
    user = await repo.token_user(session, token_hash)
    if user is None:
        return None
    user_id, email, is_staff, is_integration = user
    return Actor(user_id=user_id, email=email, is_staff=is_staff, is_integration=is_integration)


class TokenCache:
    """The actors of tokens found in the database, kept `ttl` seconds by the process so a
    client's requests do not each look their token up. A token deleted from the database
    (revoked) stops working here within `ttl`. Only found tokens are kept: an unknown token
    is looked up every time, so it never passes for valid, and a new one works at once."""

    def __init__(
        self,
        ttl: float = 5.0,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[Actor, float]] = {}

    def get(self, token_hash: str) -> Actor | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        actor, expires = entry
        if self.clock() >= expires:
            self._entries.pop(token_hash, None)
            return None
        return actor

    def clear(self) -> None:
        self._entries.clear()

    def put(self, token_hash: str, actor: Actor) -> None:
        if self.ttl <= 0:
            return
        now = self.clock()
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            while len(self._entries) >= self.max_entries:  # the oldest go first
                del self._entries[next(iter(self._entries))]
        self._entries.pop(token_hash, None)  # re-inserted last: the newest
        self._entries[token_hash] = (actor, now + self.ttl)


async def note_activity(session: AsyncSession, user_id: int, day: date) -> None:
    """The user made an authenticated request on this day (once per day is enough)."""
    await repo.note_activity(session, user_id, day)
