"""Authorization checks shared by services. A caller with no role in a business center is
told NOT_FOUND, never FORBIDDEN, so ids of other customers reveal nothing."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission, Role, role_allows
from adledger.domain.errors import Forbidden, not_found
from adledger.services.actor import Actor
from adledger.store import business_centers as centers
from adledger.store.models import AdAccount


async def role_in(session: AsyncSession, actor: Actor, center_id: int) -> Role | None:
    roles = await centers.roles_of_user(session, actor.user_id, [center_id])
    role = roles.get(center_id)
    return Role(role) if role else None


async def require(
    session: AsyncSession,
    actor: Actor,
    center_id: int,
    permission: Permission,
    *,
    field: tuple[str, ...] = (),
    what: str = "object",
) -> Role | None:
    role = await role_in(session, actor, center_id)
    check(actor, role, permission, field=field, what=what)
    return role


def check(
    actor: Actor,
    role: Role | None,
    permission: Permission,
    *,
    field: tuple[str, ...] = (),
    what: str = "object",
) -> None:
    """`require` for a role read along with the object (no statement of its own)."""
    if role is None and not actor.is_staff:
        raise not_found(what, field)
    if not role_allows(role, permission, is_staff=actor.is_staff):
        raise Forbidden(f"your role may not {permission.value.replace('_', ' ')} here", field)


async def ad_account_for(
    session: AsyncSession,
    actor: Actor,
    account_id: int,
    permission: Permission,
    field: tuple[str, ...] = ("input", "adAccountId"),
) -> AdAccount:
    """The ad account, when the caller may act on it (NOT_FOUND for other customers')."""
    found = await centers.ad_accounts_by_ids(session, [account_id])
    if not found:
        raise not_found("ad account", field)
    await require(
        session, actor, found[0].business_center_id, permission, field=field, what="ad account"
    )
    return found[0]


def require_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("platform staff only")


INTEGRATION_RECORDS_SPEND_ONLY = "an integration token may call recordSpend and nothing else"


def refuse_integration(actor: Actor) -> None:
    """The ad server's token records spend; it never joins or founds a business center,
    which would let it move customers' money. Checked before any id is looked up: what
    the token may do is the token's, so FORBIDDEN tells nothing about any object."""
    if actor.is_integration:
        raise Forbidden(INTEGRATION_RECORDS_SPEND_ONLY)
