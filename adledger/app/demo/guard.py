"""The demo's balance guard: Contoso Retail's center wallet has a saved sandbox card, an
automatic recharge rule and two low-balance alerts, so the banner's recordSpend line
crosses the threshold and a recharge is charged, paid and credited (issue 27, item 6).

Set after the seed's commit, as a member would through the API: the card saved by the
card-setup effect (like Northwind's, cards.py), then the rule and the alerts by the
services setAutoRecharge and setBalanceAlerts call. A demo seeded before gets what it
lacks on its next start; a rule or alerts that exist (changed or disabled by hand) are
left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.app.demo import queries as repo
from adledger.app.demo.cards import Confirm, save_card
from adledger.app.demo.seed import DEMO_ADMIN_EMAIL, DEMO_AUTOMATIC_CENTER_NAME, DEMO_CURRENCY
from adledger.domain.balance_alerts import AlertKind
from adledger.domain.wallets import MoneyIn, available
from adledger.payments.port import PaymentProvider
from adledger.services import effects
from adledger.services.actor import Actor
from adledger.services.balance_alerts import AlertIn, set_balance_alerts
from adledger.services.config import BillingConfig
from adledger.services.recharge_settings import RechargeRequest, set_auto_recharge
from adledger.services.transact import Transact
from adledger.store import auto_recharge as rule_repo
from adledger.store import balance_alerts as alert_repo
from adledger.store import users as user_repo
from adledger.store import wallets as wallet_repo

# The center wallet starts with 1,860.00 available (1,360.00 cash and the 500.00 credit
# line) and "Holiday push" may spend 300.00 a month (its account's budget): a threshold
# within reach of one spend, twice in a month (the first recharge brings it to 1,800.00).
RECHARGE_THRESHOLD = "1700.00"
RECHARGE_TARGET = "1800.00"
RECHARGE_MONTHLY_CAP = "5000.00"
ALERT_BALANCE_BELOW = "1750.00"
ALERT_RUNWAY_DAYS = 3


@dataclass(frozen=True, slots=True)
class GuardDemo:
    """The center wallet as `adledger dev` starts: what the banner's lines are cut to."""

    center_id: int
    wallet_id: int
    available: int
    """Minor units, the one definition (`Wallet.balance.available`)."""
    threshold: int | None
    """The rule's, None without one (no saved card: not in the sandbox)."""
    target: int | None
    rule_status: str | None
    in_flight: bool
    """A recharge's invoice is open, not paid yet."""


@dataclass(frozen=True, slots=True)
class _Found:
    admin: Actor
    center_id: int
    wallet_id: int
    has_card: bool
    has_rule: bool
    has_alerts: bool


async def ensure_balance_guard(
    transact: Transact,
    provider: PaymentProvider,
    confirm: Confirm | None,
    config: BillingConfig,
    now: datetime,
) -> GuardDemo | None:
    """None when there is no Contoso Retail. `confirm` plays Stripe.js on a sandbox card
    setup; None (real Stripe) saves no card, so no rule is set: only the alerts."""
    found = await transact(_find)
    if found is None:
        return None
    has_card = found.has_card
    if not has_card and confirm is not None:
        tools = effects.Tools(transact, provider, config)
        await save_card(tools, confirm, found.admin, found.center_id, now)
        has_card = True
    if has_card and not found.has_rule:
        await transact(lambda s: _set_rule(s, found, config, now))
    if not found.has_alerts:
        await transact(lambda s: _set_alerts(s, found, now))
    return await transact(lambda s: _state(s, found))


async def _find(session: AsyncSession) -> _Found | None:
    admin = await user_repo.user_by_email(session, DEMO_ADMIN_EMAIL)
    if admin is None:
        return None
    center = await repo.member_center_named(session, admin.id, DEMO_AUTOMATIC_CENTER_NAME)
    if center is None:
        return None
    wallet_id = (await wallet_repo.wallets_of_centers(session, [center.id]))[0].id
    rules = await rule_repo.rules_by_wallet(session, [wallet_id])
    alerts = await alert_repo.alerts_by_wallet(session, [wallet_id])
    return _Found(
        Actor(admin.id, admin.email, admin.is_staff),
        center.id,
        wallet_id,
        center.card_reference is not None,
        bool(rules),
        bool(alerts.get(wallet_id)),
    )


async def _set_rule(
    session: AsyncSession, found: _Found, config: BillingConfig, now: datetime
) -> None:
    request = RechargeRequest(
        found.wallet_id,
        threshold=_usd(RECHARGE_THRESHOLD),
        target_balance=_usd(RECHARGE_TARGET),
        monthly_cap=_usd(RECHARGE_MONTHLY_CAP),
    )
    await set_auto_recharge(session, found.admin, request, config, now)


async def _set_alerts(session: AsyncSession, found: _Found, now: datetime) -> None:
    alerts = [
        AlertIn(AlertKind.BALANCE_BELOW, _usd(ALERT_BALANCE_BELOW), None),
        AlertIn(AlertKind.RUNWAY_BELOW_DAYS, None, ALERT_RUNWAY_DAYS),
    ]
    await set_balance_alerts(session, found.admin, found.wallet_id, alerts, now)


async def _state(session: AsyncSession, found: _Found) -> GuardDemo:
    wallet = (await wallet_repo.wallets_by_ids(session, [found.wallet_id]))[0]
    sums = await wallet_repo.balances_by_wallet(session, [wallet.id])
    rules = await rule_repo.rules_by_wallet(session, [wallet.id])
    rule = rules[0] if rules else None
    return GuardDemo(
        found.center_id,
        wallet.id,
        available(sums.get(wallet.id, {}), wallet.credit_limit),
        None if rule is None else rule.threshold,
        None if rule is None else rule.target_balance,
        None if rule is None else rule.status,
        rule is not None and rule.in_flight_invoice_id is not None,
    )


def _usd(amount: str) -> MoneyIn:
    return MoneyIn(amount, DEMO_CURRENCY)
