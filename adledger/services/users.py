"""Users and API tokens. Only a token's SHA-256 is stored; the token is shown once."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

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
    user = await repo.user_by_token_hash(session, hash_token(token))
    if user is None:
        return None
    return Actor(
        user_id=user.id,
        email=user.email,
        is_staff=user.is_staff,
        is_integration=user.is_integration,
    )


async def note_activity(session: AsyncSession, user_id: int, day: date) -> None:
    """The user made an authenticated request on this day (once per day is enough)."""
    await repo.note_activity(session, user_id, day)
