from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from adledger.store.models import ApiToken, MemberActivity, Membership, User


async def token_user(
    session: AsyncSession | AsyncConnection, token_hash: str
) -> tuple[int, str, bool, bool] | None:
    """(id, email, is_staff, is_integration) of the token's user: a Core row, no ORM object."""
    row = (await session.execute(_TOKEN_USER, {"token_hash": token_hash})).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


_users, _tokens = User.__table__, ApiToken.__table__
_TOKEN_USER = (
    select(_users.c.id, _users.c.email, _users.c.is_staff, _users.c.is_integration)
    .join(_tokens, _tokens.c.user_id == _users.c.id)
    .where(_tokens.c.token_hash == bindparam("token_hash"))
)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def insert_user(
    session: AsyncSession, email: str, *, is_staff: bool, is_integration: bool = False
) -> User:
    user = User(email=email, is_staff=is_staff, is_integration=is_integration)
    session.add(user)
    await session.flush()
    return user


async def insert_token(session: AsyncSession, user_id: int, token_hash: str) -> None:
    session.add(ApiToken(user_id=user_id, token_hash=token_hash))
    await session.flush()


async def emails_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    stmt = select(User.id, User.email).where(User.id.in_(ids))
    return {user_id: email for user_id, email in (await session.execute(stmt)).all()}


async def note_activity(session: AsyncSession, user_id: int, day: date) -> None:
    stmt = pg_insert(MemberActivity).values(user_id=user_id, day=day)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["user_id", "day"]))


async def active_members(session: AsyncSession, center_id: int, start: date, end: date) -> bool:
    """Whether any member of the center made an authenticated request on a day from
    `start` to `end`, both included."""
    stmt = (
        select(MemberActivity.user_id)
        .join(Membership, Membership.user_id == MemberActivity.user_id)
        .where(
            Membership.business_center_id == center_id,
            MemberActivity.day >= start,
            MemberActivity.day <= end,
        )
        .limit(1)
    )
    return await session.scalar(stmt) is not None
