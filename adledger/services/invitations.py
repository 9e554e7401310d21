"""Business center invitations (the answer to "which emails have accounts?" is: ask
nobody). An admin invites an email; the user with that email accepts. Inviting answers the
same whether or not the email has an account, and adds no one by itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission, Role, role_allows
from adledger.domain.errors import InvalidInput, InvalidState, not_found
from adledger.services import access
from adledger.services.actor import Actor
from adledger.services.users import MAX_EMAIL_LENGTH
from adledger.store import business_centers as centers
from adledger.store import invitations as repo
from adledger.store.models import BusinessCenterInvitation

VALID_FOR = timedelta(days=30)
EMAIL_FIELD = ("input", "email")
INVITATION_FIELD = ("input", "invitationId")


@dataclass(frozen=True, slots=True)
class InvitationOutcome:
    business_center_id: int
    invitation_id: int


def clean_email(raw: str, field: tuple[str, ...] = EMAIL_FIELD) -> str:
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput(f"email has more than {MAX_EMAIL_LENGTH} characters", field)
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain or any(c.isspace() for c in email):
        raise InvalidInput("this is not an email address", field)
    return email


async def invite(
    session: AsyncSession, actor: Actor, center_id: int, raw_email: str, role: Role, now: datetime
) -> InvitationOutcome:
    """Record (or renew) a pending invitation. The only refusal that depends on the email is
    "already a member", which the admin can see in the member list anyway."""
    email = clean_email(raw_email)
    await access.require(
        session,
        actor,
        center_id,
        Permission.MANAGE_MEMBERS,
        field=("input", "businessCenterId"),
        what="business center",
    )
    members = (await centers.members_by_center(session, [center_id]))[center_id]
    if email in {member_email for member_email, _ in members}:
        raise InvalidState("this email is already a member", EMAIL_FIELD)
    row = await repo.upsert_pending(
        session, center_id, email, role.value, actor.user_id, now + VALID_FOR
    )
    return InvitationOutcome(center_id, row.id)


async def accept(
    session: AsyncSession, actor: Actor, invitation_id: int, now: datetime
) -> InvitationOutcome:
    access.refuse_integration(actor)
    row = await _addressed_to(session, actor, invitation_id, now)
    if await access.role_in(session, actor, row.business_center_id) is None:
        await centers.insert_membership(session, row.business_center_id, actor.user_id, row.role)
    await repo.answer(session, row.id, "ACCEPTED", now)
    return InvitationOutcome(row.business_center_id, row.id)


async def decline(
    session: AsyncSession, actor: Actor, invitation_id: int, now: datetime
) -> InvitationOutcome:
    row = await _addressed_to(session, actor, invitation_id, now)
    await repo.answer(session, row.id, "DECLINED", now)
    return InvitationOutcome(row.business_center_id, row.id)


async def revoke(
    session: AsyncSession, actor: Actor, invitation_id: int, now: datetime
) -> InvitationOutcome:
    row = await repo.lock_pending(session, invitation_id, now)
    if row is None or not await _may_manage(session, actor, row.business_center_id):
        raise not_found("business center invitation", INVITATION_FIELD)
    await repo.answer(session, row.id, "REVOKED", now)
    return InvitationOutcome(row.business_center_id, row.id)


async def _addressed_to(
    session: AsyncSession, actor: Actor, invitation_id: int, now: datetime
) -> BusinessCenterInvitation:
    """Someone else's invitation, an answered or an expired one: all simply not found."""
    row = await repo.lock_pending(session, invitation_id, now)
    if row is None or row.email != actor.email.strip().lower():
        raise not_found("business center invitation", INVITATION_FIELD)
    return row


async def _may_manage(session: AsyncSession, actor: Actor, center_id: int) -> bool:
    role = await access.role_in(session, actor, center_id)
    return role_allows(role, Permission.MANAGE_MEMBERS, is_staff=actor.is_staff)
