"""Low-balance alerts (issue 27, item 2; the rules in domain/balance_alerts.py).

`set_balance_alerts` replaces a wallet's alerts (ADMIN and FINANCE_MANAGER: the permission
to move the wallet's money), audited; the same alerts again change nothing and audit
nothing. `on_balances_changed` runs in the transaction that moved the money, right before
it commits (services/balance_guard.py): it locks the wallets' alerts, reads each wallet's
available balance (and its runway, for runway alerts) once, and fires or re-arms them. A
fired alert is one notification and one partner event (`balance.low`, `runway.low`), both
gone if the transaction rolls back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.balance_alerts import (
    AlertKind,
    AlertSetting,
    Change,
    check_count,
    check_days,
    decide,
)
from adledger.domain.errors import CurrencyMismatch, InvalidInput
from adledger.domain.events import EventType
from adledger.domain.money import Currency, format_minor, parse_positive_amount
from adledger.domain.runway import burn_rate, days_left, utc_day, window_days
from adledger.domain.wallets import MoneyIn, available
from adledger.services import events, notifications
from adledger.services.actor import Actor
from adledger.services.event_data import Data, money, ref
from adledger.services.wallets import wallet_for
from adledger.store import audit
from adledger.store import balance_alerts as repo
from adledger.store import runway as runway_repo
from adledger.store import wallets as wallet_repo
from adledger.store.guard_models import BalanceAlert
from adledger.store.models import Wallet
from adledger.store.wallets import MovableWallet


@dataclass(frozen=True, slots=True)
class AlertIn:
    kind: AlertKind
    threshold: MoneyIn | None
    days: object | None


@dataclass(frozen=True, slots=True)
class AlertsOutcome:
    wallet_id: int


async def set_balance_alerts(
    session: AsyncSession, actor: Actor, wallet_id: int, alerts: Sequence[AlertIn], now: datetime
) -> AlertsOutcome:
    check_count(alerts)
    wallet = await wallet_for(session, actor, wallet_id, ("input", "walletId"))
    settings = [_setting(wallet, alert, i) for i, alert in enumerate(alerts)]
    current = await repo.lock_alerts(session, [wallet.id])
    if [_setting_of(a) for a in current] == settings:
        return AlertsOutcome(wallet.id)  # the same alerts: nothing changes, nothing audited
    unused = list(current)
    kept = [_take_same(unused, s) for s in settings]
    await repo.replace_alerts(session, wallet.id, settings, kept, now)
    owner = await wallet_repo.owner_name(session, wallet)
    detail = "; ".join(_words(s, wallet.currency) for s in settings) or "none"
    await audit.record(
        session,
        audit.Audited(
            wallet.business_center_id,
            actor.user_id,
            "balance_alerts.set",
            f"Wallet of {owner}",
            now,
            detail=f"alerts: {detail}",
        ),
    )
    return AlertsOutcome(wallet.id)


def _setting(wallet: Wallet | MovableWallet, alert: AlertIn, index: int) -> AlertSetting:
    field = ("input", "alerts", str(index))
    if alert.kind is AlertKind.BALANCE_BELOW:
        if alert.days is not None:
            raise InvalidInput("a balance alert has a threshold, not days", (*field, "days"))
        if alert.threshold is None:
            raise InvalidInput("a balance alert needs a threshold", (*field, "threshold"))
        if alert.threshold.currency.value != wallet.currency:
            raise CurrencyMismatch(
                expected=wallet.currency, field=(*field, "threshold", "currencyCode")
            )
        amount = parse_positive_amount(
            alert.threshold.amount, alert.threshold.currency, (*field, "threshold", "amount")
        )
        return AlertSetting(alert.kind, amount.minor, None)
    if alert.threshold is not None:
        raise InvalidInput("a runway alert has days, not a threshold", (*field, "threshold"))
    if alert.days is None:
        raise InvalidInput("a runway alert needs days", (*field, "days"))
    return AlertSetting(alert.kind, None, check_days(alert.days, (*field, "days")))


def _setting_of(alert: BalanceAlert) -> AlertSetting:
    return AlertSetting(AlertKind(alert.kind), alert.threshold, alert.days)


def _take_same(unused: list[BalanceAlert], setting: AlertSetting) -> BalanceAlert | None:
    """An existing alert of the same setting keeps its state (armed or not) when the list
    is set again around it."""
    for alert in unused:
        if _setting_of(alert) == setting:
            unused.remove(alert)
            return alert
    return None


def _words(setting: AlertSetting, currency: str) -> str:
    if setting.kind is AlertKind.BALANCE_BELOW:
        return f"balance below {format_minor(setting.threshold or 0, Currency(currency))}"
    return f"runway below {setting.days} days"


async def on_balances_changed(
    session: AsyncSession, wallet_ids: Sequence[int], now: datetime
) -> None:
    """Fire the armed alerts the wallets' balances (or runways) fell below; re-arm those
    they climbed back above (with the margin)."""
    alerts = await repo.lock_alerts(session, wallet_ids)
    if not alerts:
        return
    by_wallet: dict[int, list[BalanceAlert]] = defaultdict(list)
    for alert in alerts:
        by_wallet[alert.wallet_id].append(alert)
    ids = sorted(by_wallet)
    wallets = {w.id: w for w in await wallet_repo.wallets_by_ids(session, ids)}
    sums = await wallet_repo.balances_by_wallet(session, ids)
    burns = await _burns(session, by_wallet, now)
    for wallet_id in ids:
        wallet = wallets[wallet_id]
        balance = available(sums.get(wallet_id, {}), wallet.credit_limit)
        left = days_left(balance, burns[wallet_id]) if wallet_id in burns else None
        for alert in by_wallet[wallet_id]:
            await _apply(session, wallet, alert, balance, left, now)


async def _burns(
    session: AsyncSession, by_wallet: dict[int, list[BalanceAlert]], now: datetime
) -> dict[int, Fraction]:
    """The burn rate of the wallets with a runway alert (one statement, or none)."""
    wanted = [
        w
        for w, alerts in by_wallet.items()
        if any(a.kind == AlertKind.RUNWAY_BELOW_DAYS for a in alerts)
    ]
    if not wanted:
        return {}
    today = utc_day(now)
    days = window_days(today)
    spend = await runway_repo.spend_days(session, wanted, days[-1], days[0])
    return {w: burn_rate(spend.get(w, {}), today) for w in wanted}


async def _apply(
    session: AsyncSession,
    wallet: Wallet,
    alert: BalanceAlert,
    balance: int,
    left: Fraction | None,
    now: datetime,
) -> None:
    setting = _setting_of(alert)
    runway = setting.kind is AlertKind.RUNWAY_BELOW_DAYS
    measure = left if runway else Fraction(balance)
    change = decide(setting, alert.armed, measure, Currency(wallet.currency))
    if change is Change.REARM:
        alert.armed = True
    elif change is Change.FIRE:
        alert.armed = False
        alert.last_triggered_at = now
        await _fire(session, wallet, setting, balance, left, now)


async def _fire(
    session: AsyncSession,
    wallet: Wallet,
    setting: AlertSetting,
    balance: int,
    left: Fraction | None,
    now: datetime,
) -> None:
    runway = setting.kind is AlertKind.RUNWAY_BELOW_DAYS
    owner = await wallet_repo.owner_name(session, wallet)
    shown = format_minor(balance, Currency(wallet.currency))
    why = _words(setting, wallet.currency)
    if runway:
        lasts = f"{float(left or 0):.1f} days at its recent spend"
        message = f"The balance of {owner} lasts {lasts} ({why})."
    else:
        message = f"The available balance of {owner} is {shown} {wallet.currency} ({why})."
    kind = "RUNWAY_LOW" if runway else "BALANCE_LOW"
    await notifications.notify(session, wallet.business_center_id, kind, message, now)
    await events.record(
        session,
        wallet.business_center_id,
        EventType.RUNWAY_LOW if runway else EventType.BALANCE_LOW,
        "Wallet",
        wallet.id,
        _data(wallet, setting, balance, left),
        now,
    )


def _data(wallet: Wallet, setting: AlertSetting, balance: int, left: Fraction | None) -> Data:
    threshold = setting.threshold
    return {
        "wallet": ref("Wallet", wallet.id),
        "alert": {
            "kind": setting.kind.value,
            "threshold": None if threshold is None else money(threshold, wallet.currency),
            "days": None if setting.days is None else float(setting.days),
        },
        "available": money(balance, wallet.currency),
        "daysLeft": None if left is None else float(left),
    }
