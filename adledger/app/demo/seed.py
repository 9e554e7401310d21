"""The demo data `adledger dev` starts with, so GraphiQL has something real to show.

Everything goes through the ordinary services, so the demo ledger obeys every rule the
real one does and `adledger verify-ledger` passes on it. Plan subscriptions arrive with
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.app.demo import queries as demo_repo
from adledger.domain.ad_accounts import AdAccountType, BillingOption
from adledger.domain.billing import Plan, TopUpStatus
from adledger.domain.budgets import BudgetMode
from adledger.domain.errors import InvariantBroken
from adledger.domain.money import Currency, parse_amount
from adledger.domain.wallets import Bucket, CreditLineCycle, MoneyIn
from adledger.services import users as user_service
from adledger.services.actor import Actor
from adledger.services.allocation import enable_automatic_allocation
from adledger.services.budgets import BudgetCommand, set_ad_account_budget
from adledger.services.business_centers import create_ad_account, create_business_center
from adledger.services.campaigns import NewCampaign, create_campaign, launch_campaign
from adledger.services.config import BillingConfig
from adledger.services.subscriptions import subscribe
from adledger.services.top_ups import TopUpRequest, request_top_up
from adledger.services.wallets import (
    Transfer,
    credit_adjustment,
    grant_vouchers,
    set_credit_line,
    transfer_balance,
)
from adledger.store import billing as billing_repo
from adledger.store import campaigns as campaign_repo
from adledger.store import locks
from adledger.store import users as user_repo
from adledger.store import wallets as wallet_repo

DEMO_ADMIN_EMAIL = "demo@adledger.local"
DEMO_STAFF_EMAIL = "billing@adledger.local"
DEMO_ADSERVER_EMAIL = "adserver@adledger.local"
DEMO_CENTER_NAME = "Northwind Agency"
DEMO_AUTOMATIC_CENTER_NAME = "Contoso Retail"
DEMO_CURRENCY = Currency.USD
DEMO_CAMPAIGN = "Winter sale"
DEMO_AUTOMATIC_CAMPAIGN = "Holiday push"
# The campaign of each demo center the banner reports spend on.
DEMO_SPEND_CAMPAIGNS = {
    DEMO_CENTER_NAME: DEMO_CAMPAIGN,
    DEMO_AUTOMATIC_CENTER_NAME: DEMO_AUTOMATIC_CAMPAIGN,
}

_ACCOUNTS = (
    ("Northwind Search", BillingOption.PREPAID),
    ("Northwind Social", BillingOption.PREPAID),
    ("Northwind Brand", BillingOption.MONTHLY_INVOICING),
)


@dataclass(frozen=True, slots=True)
class DemoSeed:
    admin_user_id: int
    staff_user_id: int
    business_center_id: int
    center_wallet_id: int
    ad_account_ids: tuple[int, ...]
    ad_account_wallet_ids: tuple[int, ...]
    campaign_id: int


async def is_seeded(session: AsyncSession) -> bool:
    """The demo admin exists only once the demo was seeded (in the same transaction)."""
    return await user_repo.user_by_email(session, DEMO_ADMIN_EMAIL) is not None


async def seed_demo(session: AsyncSession, config: BillingConfig, now: datetime) -> DemoSeed:
    """Create the demo; the caller commits, so a failed seed leaves nothing behind.
    The caller also issues the pending top-up's invoice at the provider after its commit."""
    locks.exempt(session)  # many operations in one transaction, before anything else runs
    admin = await _user(session, DEMO_ADMIN_EMAIL, is_staff=False)
    staff = await _user(session, DEMO_STAFF_EMAIL, is_staff=True)
    center = await create_business_center(session, admin, DEMO_CENTER_NAME, DEMO_CURRENCY)
    center_id = center.business_center_id
    account_ids = tuple([await _ad_account(session, admin, center_id, *a) for a in _ACCOUNTS])
    center_wallet = (await wallet_repo.wallets_of_centers(session, [center_id]))[0].id
    account_wallets = await _account_wallets(session, account_ids)
    await _fund(session, admin, staff, center_id, center_wallet, account_wallets)
    await subscribe(session, admin, center_id, Plan.PRO, True, config, now)
    campaign_id = await _live_campaign(session, admin, account_ids[0], config, now)
    pending = TopUpRequest(center_wallet, amount=_usd("500.00"))
    await request_top_up(session, admin, pending, config, now)
    await user_service.create_user(session, DEMO_ADSERVER_EMAIL, is_integration=True)
    await seed_automatic_center(session, admin, staff, config, now)
    return DemoSeed(
        admin.user_id,
        staff.user_id,
        center_id,
        center_wallet,
        account_ids,
        account_wallets,
        campaign_id,
    )


async def pending_top_up_reference(session: AsyncSession) -> str | None:
    """The provider reference of the demo's top-up still awaiting payment, if any."""
    admin = await user_repo.user_by_email(session, DEMO_ADMIN_EMAIL)
    if admin is None:
        return None
    return await billing_repo.latest_top_up_reference(
        session, admin.id, TopUpStatus.AWAITING_PAYMENT.value
    )


async def demo_admin_token(session: AsyncSession) -> str:
    """A fresh token on every start: only hashes are stored, so an old one cannot be shown."""
    admin = await user_repo.user_by_email(session, DEMO_ADMIN_EMAIL)
    if admin is None:
        raise LookupError("the demo is not seeded")
    return await user_service.issue_token(session, admin.id)


async def demo_adserver_token(session: AsyncSession) -> str:
    """A fresh token for the demo's ad server (the integration that reports spend); a demo
    seeded before integrations existed gets the user now."""
    adserver = await user_repo.user_by_email(session, DEMO_ADSERVER_EMAIL)
    if adserver is None:
        return await user_service.create_user(session, DEMO_ADSERVER_EMAIL, is_integration=True)
    return await user_service.issue_token(session, adserver.id)


async def delivering_campaign_ids(session: AsyncSession) -> dict[str, int]:
    """Per demo business center (by name), its example campaign (DEMO_SPEND_CAMPAIGNS) if
    it still delivers: the ones the banner's recordSpend examples name. Looked up by name,
    not as the newest: "Billboard run", added after the seed, delivers too."""
    admin = await user_repo.user_by_email(session, DEMO_ADMIN_EMAIL)
    if admin is None:
        return {}
    found: dict[str, int] = {}
    for center_name, campaign_name in DEMO_SPEND_CAMPAIGNS.items():
        campaign_id = await demo_repo.active_campaign_named(
            session, admin.id, center_name, campaign_name
        )
        if campaign_id is not None:
            found[center_name] = campaign_id
    return found


async def ensure_automatic_center(
    session: AsyncSession, config: BillingConfig, now: datetime
) -> bool:
    """A demo seeded before automatic allocation existed gets its second center now."""
    locks.exempt(session)  # as seed_demo: one transaction of many operations, alone
    admin = await user_repo.user_by_email(session, DEMO_ADMIN_EMAIL)
    staff = await user_repo.user_by_email(session, DEMO_STAFF_EMAIL)
    if admin is None or staff is None:
        return False
    names = await campaign_repo.center_names_of_member(session, admin.id)
    if DEMO_AUTOMATIC_CENTER_NAME in names:
        return False
    await seed_automatic_center(
        session,
        Actor(admin.id, admin.email, admin.is_staff),
        Actor(staff.id, staff.email, staff.is_staff),
        config,
        now,
    )
    return True


_AUTOMATIC_ACCOUNTS: tuple[tuple[str, str, str | None, str | None], ...] = (
    # name, cash before the switch (Budget Sync caps it at that), vouchers, cap before
    ("Contoso Search", "300.00", None, None),
    ("Contoso Video", "0.00", None, "50.00"),
    ("Contoso Display", "60.00", "40.00", None),
)


async def seed_automatic_center(
    session: AsyncSession, admin: Actor, staff: Actor, config: BillingConfig, now: datetime
) -> int:
    """Contoso Retail: MONTHLY_INVOICING accounts drawing on the center's 1000.00 cash and a
    500.00 credit line (automatic allocation), and a live campaign to post spend on."""
    center = await create_business_center(session, admin, DEMO_AUTOMATIC_CENTER_NAME, DEMO_CURRENCY)
    center_id = center.business_center_id
    center_wallet = (await wallet_repo.wallets_of_centers(session, [center_id]))[0].id
    opening = parse_amount("1199.00", DEMO_CURRENCY)
    await credit_adjustment(session, center_wallet, opening, "Opening balance", staff.user_id)
    await subscribe(session, admin, center_id, Plan.PRO, True, config, now)
    accounts = [
        await _automatic_account(session, admin, staff, center_id, *a, now)
        for a in _AUTOMATIC_ACCOUNTS
    ]
    await set_credit_line(
        session, staff, center_id, _usd("500.00"), CreditLineCycle.CALENDAR_MONTH, 30
    )
    await enable_automatic_allocation(session, admin, center_id, now)
    holiday = NewCampaign(
        accounts[0],
        DEMO_AUTOMATIC_CAMPAIGN,
        _usd("800.00"),
        now - timedelta(hours=1),
        now + timedelta(60),
    )
    created = await create_campaign(session, admin, holiday, config, now)
    await launch_campaign(session, admin, created.campaign_id, config, now)
    return center_id


async def _automatic_account(
    session: AsyncSession,
    admin: Actor,
    staff: Actor,
    center_id: int,
    name: str,
    cash: str,
    vouchers: str | None,
    cap: str | None,
    now: datetime,
) -> int:
    account_id = await _ad_account(session, admin, center_id, name, BillingOption.MONTHLY_INVOICING)
    wallet = (await wallet_repo.wallets_of_ad_accounts(session, [account_id]))[0].id
    if cash != "0.00":
        await credit_adjustment(
            session, wallet, parse_amount(cash, DEMO_CURRENCY), "Opening balance", staff.user_id
        )
    if vouchers is not None:
        await grant_vouchers(session, staff, wallet, _usd(vouchers), "Launch ad credit")
    if cap is not None:
        daily = BudgetCommand(account_id, BudgetMode.DAILY, _usd(cap))
        await set_ad_account_budget(session, admin, daily, now)
    return account_id


async def _live_campaign(
    session: AsyncSession, admin: Actor, account_id: int, config: BillingConfig, now: datetime
) -> int:
    """Started an hour ago, 90 days long, paid from Northwind Search's credit balance."""
    winter = NewCampaign(
        account_id, DEMO_CAMPAIGN, _usd("600.00"), now - timedelta(hours=1), now + timedelta(90)
    )
    created = await create_campaign(session, admin, winter, config, now)
    await launch_campaign(session, admin, created.campaign_id, config, now)
    return created.campaign_id


async def _user(session: AsyncSession, email: str, *, is_staff: bool) -> Actor:
    await user_service.create_user(session, email, is_staff=is_staff)
    user = await user_repo.user_by_email(session, email)
    if user is None:
        raise InvariantBroken("user is not None (just created in this transaction)")
    return Actor(user.id, user.email, user.is_staff)


async def _ad_account(
    session: AsyncSession, admin: Actor, center_id: int, name: str, billing: BillingOption
) -> int:
    outcome = await create_ad_account(
        session, admin, center_id, name, billing, AdAccountType.AUCTION
    )
    return outcome.ad_account_id


async def _account_wallets(session: AsyncSession, account_ids: tuple[int, ...]) -> tuple[int, ...]:
    wallets = await wallet_repo.wallets_of_ad_accounts(session, account_ids)
    by_account = {wallet.ad_account_id: wallet.id for wallet in wallets}
    return tuple(by_account[account_id] for account_id in account_ids)


async def _fund(
    session: AsyncSession,
    admin: Actor,
    staff: Actor,
    center_id: int,
    center_wallet: int,
    accounts: tuple[int, ...],
) -> None:
    """One of each kind of wallet transaction this release knows: adjustment, allocations
    both ways, voucher grants, a voucher allocation, and a credit line."""
    opening = parse_amount("5000.00", DEMO_CURRENCY)
    await credit_adjustment(session, center_wallet, opening, "Opening balance", staff.user_id)
    await _transfer(session, admin, center_wallet, accounts[0], "1200.00")
    await _transfer(session, admin, center_wallet, accounts[1], "800.00")
    await _transfer(session, admin, accounts[0], center_wallet, "150.00")
    await grant_vouchers(session, staff, center_wallet, _usd("250.00"), "Welcome ad credit")
    await _transfer(session, admin, center_wallet, accounts[1], "100.00", Bucket.VOUCHERS)
    await set_credit_line(
        session, staff, center_id, _usd("2000.00"), CreditLineCycle.CALENDAR_MONTH, 30
    )


async def _transfer(
    session: AsyncSession,
    admin: Actor,
    source: int,
    target: int,
    amount: str,
    bucket: Bucket = Bucket.CASH,
) -> None:
    await transfer_balance(session, admin, Transfer(source, target, _usd(amount), bucket))


def _usd(amount: str) -> MoneyIn:
    return MoneyIn(amount, DEMO_CURRENCY)
