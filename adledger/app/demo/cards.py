"""The demo's campaign paid by card: Northwind Agency saves a (sandbox) card and runs
"Billboard run", 1,000.00 over 30 days in three installments, the first charged at
launch. `adledger jobs run issue-invoices --now ISO` at the second's date charges it.

It runs after the seed's commit, as the API would: the card setup and the charge are
outbox effects declared with the change that asks for them, run right after its commit.
A demo seeded before card plans existed gets it on the next start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.app.demo import queries as repo
from adledger.app.demo.seed import DEMO_ADMIN_EMAIL, DEMO_CENTER_NAME, DEMO_CURRENCY
from adledger.domain.campaigns import DeliveryType, PaymentPlan
from adledger.domain.errors import InvariantBroken
from adledger.domain.wallets import MoneyIn
from adledger.payments.port import Card, CardSetup, PaymentProvider
from adledger.services import cards, effect_kinds, effects
from adledger.services.actor import Actor
from adledger.services.campaigns import NewCampaign, create_campaign, launch_campaign
from adledger.services.config import BillingConfig
from adledger.services.transact import Transact
from adledger.store import users as user_repo

DEMO_CARD_CAMPAIGN = "Billboard run"
DEMO_CARD_ACCOUNT = "Northwind Social"

Confirm = Callable[[str], Awaitable[tuple[CardSetup, Card]]]


@dataclass(frozen=True, slots=True)
class CardPlanDemo:
    campaign_id: int
    next_issue_on: datetime | None
    """When its next installment is due: the instant to run issue-invoices at."""


@dataclass(frozen=True, slots=True)
class _Found:
    admin: Actor
    center_id: int
    has_card: bool
    campaign_id: int | None


async def ensure_card_plan(
    transact: Transact,
    provider: PaymentProvider,
    confirm: Confirm,
    config: BillingConfig,
    now: datetime,
) -> CardPlanDemo | None:
    """None when there is no demo to add it to."""
    found = await transact(_find)
    if found is None:
        return None
    tools = effects.Tools(transact, provider, config)
    if not found.has_card:
        await save_card(tools, confirm, found.admin, found.center_id, now)
    campaign_id = found.campaign_id
    if campaign_id is None:
        campaign_id = await _launch(tools, found, now)
    return await transact(lambda s: _demo_of(s, campaign_id))


async def _find(session: AsyncSession) -> _Found | None:
    admin = await user_repo.user_by_email(session, DEMO_ADMIN_EMAIL)
    if admin is None:
        return None
    center = await repo.member_center_named(session, admin.id, DEMO_CENTER_NAME)
    if center is None:
        return None
    campaign = await repo.campaign_named(session, center.id, DEMO_CARD_CAMPAIGN)
    actor = Actor(admin.id, admin.email, admin.is_staff)
    has_card = center.card_reference is not None
    return _Found(actor, center.id, has_card, None if campaign is None else campaign.id)


async def save_card(
    tools: effects.Tools, confirm: Confirm, admin: Actor, center_id: int, now: datetime
) -> None:
    """The center's card saved as the API does it: the setup's effect opens it at the
    provider after the commit, `confirm` plays Stripe.js, the card is recorded."""
    started = await tools.transact(lambda s: cards.begin_card_setup(s, admin, center_id, now))
    key = effect_kinds.open_card_setup_key(started.setup_id)
    opened: CardSetup | None = (
        (await effects.run_keys(tools, [key])).get(key, effects.Ran()).result()
    )
    if opened is None:
        raise InvariantBroken("the new card setup's effect is run by its own process")
    setup, card = await confirm(opened.reference)
    await tools.transact(lambda s: cards.record_card(s, setup, card, now))


async def _launch(tools: effects.Tools, found: _Found, now: datetime) -> int:
    """The first installment charged after the launch's commit (an outbox effect the
    launch declares)."""
    campaign_id, charge_invoice_id = await tools.transact(
        lambda s: _create_and_launch(s, found.admin, found.center_id, tools.billing, now)
    )
    if charge_invoice_id is not None:
        await effects.run_keys(tools, [effect_kinds.collect_invoice_key(charge_invoice_id)])
    return campaign_id


async def _create_and_launch(
    session: AsyncSession, admin: Actor, center_id: int, config: BillingConfig, now: datetime
) -> tuple[int, int | None]:
    account = await repo.ad_account_named(session, center_id, DEMO_CARD_ACCOUNT)
    if account is None:
        raise InvariantBroken("account is not None (seeded with the center)")
    new = NewCampaign(
        account.id,
        DEMO_CARD_CAMPAIGN,
        MoneyIn("1000.00", DEMO_CURRENCY),
        now - timedelta(hours=1),
        now + timedelta(days=30),
        # GUARANTEED: its installments fall due on their dates whatever it delivers.
        delivery_type=DeliveryType.GUARANTEED,
        payment_plan=PaymentPlan.INSTALLMENTS,
        booked_impressions=400_000,
    )
    created = await create_campaign(session, admin, new, config, now)
    launched = await launch_campaign(session, admin, created.campaign_id, config, now)
    return created.campaign_id, launched.charge_invoice_id


async def _demo_of(session: AsyncSession, campaign_id: int) -> CardPlanDemo:
    upcoming = await repo.next_scheduled(session, campaign_id)
    return CardPlanDemo(campaign_id, None if upcoming is None else upcoming.issue_on)
