"""Business centers, their members and ad accounts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission, Role
from adledger.domain.ad_accounts import AdAccountType, BillingOption, fits_automatic_allocation
from adledger.domain.allocation import AllocationMode
from adledger.domain.errors import InvalidInput, InvalidState, NotFound, not_found
from adledger.domain.money import Currency
from adledger.services import access
from adledger.services.actor import Actor
from adledger.services.idempotency import run_idempotent
from adledger.services.users import MAX_EMAIL_LENGTH
from adledger.store import business_centers as centers
from adledger.store import users, wallets
from adledger.store.models import BusinessCenter


@dataclass(frozen=True, slots=True)
class CenterOutcome:
    business_center_id: int


@dataclass(frozen=True, slots=True)
class AdAccountOutcome:
    ad_account_id: int


def clean_name(raw: str, field: tuple[str, ...] = ("input", "name")) -> str:
    name = " ".join(raw.split())
    if not 1 <= len(name) <= 200:
        raise InvalidInput("name must have 1 to 200 characters", field)
    return name


async def create_business_center(
    session: AsyncSession, actor: Actor, name: str, currency: Currency, key: str | None = None
) -> CenterOutcome:
    access.refuse_integration(actor)
    clean = clean_name(name)
    request = {"name": clean, "currency": currency.value}

    async def run() -> CenterOutcome:
        center = await centers.insert_business_center(session, clean, currency.value)
        await wallets.insert_wallet(session, center.id, None, currency.value)
        await centers.insert_membership(session, center.id, actor.user_id, Role.ADMIN.value)
        return CenterOutcome(center.id)

    return await run_idempotent(
        session, actor, key, "createBusinessCenter", request, CenterOutcome, run
    )


async def create_ad_account(
    session: AsyncSession,
    actor: Actor,
    center_id: int,
    name: str,
    billing_option: BillingOption,
    account_type: AdAccountType,
    key: str | None = None,
) -> AdAccountOutcome:
    center_field = ("input", "businessCenterId")
    await access.require(
        session,
        actor,
        center_id,
        Permission.MANAGE_ACCOUNTS,
        field=center_field,
        what="business center",
    )
    clean = clean_name(name)
    request = {
        "center": center_id,
        "name": clean,
        "billing": billing_option.value,
        "type": account_type.value,
    }

    async def run() -> AdAccountOutcome:
        center = await _center(session, center_id, center_field)
        _check_allocation_fit(center.allocation_mode, billing_option, account_type)
        account = await centers.insert_ad_account(
            session, center, clean, billing_option.value, account_type.value
        )
        await wallets.insert_wallet(session, center.id, account.id, center.currency)
        return AdAccountOutcome(account.id)

    return await run_idempotent(
        session, actor, key, "createAdAccount", request, AdAccountOutcome, run
    )


async def add_member(
    session: AsyncSession, actor: Actor, center_id: int, email: str, role: Role
) -> CenterOutcome:
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput(f"email has more than {MAX_EMAIL_LENGTH} characters", ("input", "email"))
    await access.require(
        session,
        actor,
        center_id,
        Permission.MANAGE_MEMBERS,
        field=("input", "businessCenterId"),
        what="business center",
    )
    user = await users.user_by_email(session, email.strip().lower())
    if user is None:
        raise NotFound("no user has this email", ("input", "email"))
    if await access.role_in(session, Actor(user.id, user.email, user.is_staff), center_id):
        raise InvalidState("this user is already a member", ("input", "email"))
    await centers.insert_membership(session, center_id, user.id, role.value)
    return CenterOutcome(center_id)


async def _center(session: AsyncSession, center_id: int, field: tuple[str, ...]) -> BusinessCenter:
    """Share-locked: the switch to automatic allocation waits for a new account to commit
    (and then sees it), and a new account never lands beside a switch it did not see."""
    center = await centers.share_lock_business_center(session, center_id)
    if center is None:
        raise not_found("business center", field)
    return center


def _check_allocation_fit(
    allocation_mode: str, billing_option: BillingOption, account_type: AdAccountType
) -> None:
    automatic = allocation_mode == AllocationMode.AUTOMATIC
    if automatic and not fits_automatic_allocation(billing_option, account_type):
        raise InvalidInput(
            "under automatic allocation ad accounts are MONTHLY_INVOICING and AUCTION",
            ("input", "billingOption"),
        )
