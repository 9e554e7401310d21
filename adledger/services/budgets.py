"""Ad account budget caps (DESIGN §7, both allocation modes): setting a cap, and the
period rolling over. Each runs in the caller's transaction.

Lock order (store/locks.py): the account's campaigns, then the ad account row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission
from adledger.domain.budgets import (
    BudgetMode,
    BudgetSetting,
    ChangeSource,
    StopReason,
    check_cap,
    check_change_allowed,
    checked_setting,
    day_of,
    period_of,
    synced,
)
from adledger.domain.errors import CurrencyMismatch, InvalidInput, InvariantBroken
from adledger.domain.events import EventType
from adledger.domain.money import Currency, parse_amount
from adledger.domain.wallets import MoneyIn
from adledger.services import access, events
from adledger.services import event_data_money as snapshots
from adledger.services.actor import Actor
from adledger.services.stops import account_left, drawable_now, reconsider, roll, setting_of, stop
from adledger.store import budgets as repo
from adledger.store import campaigns as campaign_repo
from adledger.store.locks import LockScopeChanged
from adledger.store.models import AdAccount, AdAccountBudgetChange, Campaign


@dataclass(frozen=True, slots=True)
class BudgetCommand:
    ad_account_id: int
    mode: BudgetMode
    amount: MoneyIn | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccountOutcome:
    ad_account_id: int
    stopped_campaign_ids: tuple[int, ...] = ()
    restarted_campaign_ids: tuple[int, ...] = ()


async def set_ad_account_budget(
    session: AsyncSession, actor: Actor, cmd: BudgetCommand, now: datetime
) -> AccountOutcome:
    found = await access.ad_account_for(session, actor, cmd.ad_account_id, Permission.MOVE_MONEY)
    wanted = _setting(found.currency, cmd, now)
    account, campaigns = await _lock_with_campaigns(session, found.id)
    if account is None:
        raise InvariantBroken("an ad account is never deleted")
    roll(account, now)
    if _same(setting_of(account), wanted):
        return AccountOutcome(account.id)
    changes = await repo.user_changes_since(session, [account.id], day_of(now).start)
    check_change_allowed(changes.get(account.id, 0))
    await apply_setting(session, account, wanted, now)
    check_cap(wanted, account.budget_spent, account.currency)
    await _record(session, account, wanted, actor.user_id, ChangeSource.USER, now)
    return await reconsider_account(session, account, campaigns, now)


async def _lock_with_campaigns(
    session: AsyncSession, account_id: int
) -> tuple[AdAccount | None, dict[int, Campaign]]:
    """The campaigns the account's cap may stop or restart, then the account (campaigns
    come first in the lock order): which campaigns is read before the locks and checked
    again under them; a concurrent writer that changed it makes this LockScopeChanged, and
    the edge runs the transaction again."""
    campaigns = await campaign_repo.lock_campaigns(session, await _capped_by(session, account_id))
    account = (await repo.lock_ad_accounts(session, [account_id])).get(account_id)
    if account is not None and not campaigns.keys() >= set(await _capped_by(session, account_id)):
        raise LockScopeChanged("a concurrent writer stopped or started a campaign: run again")
    return account, campaigns


async def _capped_by(session: AsyncSession, account_id: int) -> list[int]:
    """The account's delivering campaigns and those its cap stopped (read without a lock)."""
    reason = StopReason.ACCOUNT_BUDGET_REACHED.value
    waiting = await campaign_repo.stopped_ids(session, reason, account_id=account_id)
    return [*waiting, *await campaign_repo.delivering_ids(session, [account_id], [])]


async def apply_setting(
    session: AsyncSession, account: AdAccount, setting: BudgetSetting, now: datetime
) -> None:
    """Put `setting` on the locked account, with the spend its new period already holds."""
    period = period_of(setting, now)
    if (period.start, period.end) != (account.budget_period_start, account.budget_period_end):
        account.budget_spent = await repo.spent_between(
            session, account.id, period.start, period.end
        )
    account.budget_period_start, account.budget_period_end = period.start, period.end


async def budget_sync(
    session: AsyncSession, account: AdAccount, moved: int, actor_user_id: int, now: datetime
) -> int | None:
    """Budget Sync on the locked account: its new budget, if it had none."""
    roll(account, now)
    new = synced(setting_of(account), moved)
    if new is None:
        return None
    await apply_setting(session, account, new, now)
    await _record(session, account, new, actor_user_id, ChangeSource.BUDGET_SYNC, now)
    return new.amount


async def reconsider_account(
    session: AsyncSession, account: AdAccount, locked: dict[int, Campaign], now: datetime
) -> AccountOutcome:
    """Stop the account's delivering campaigns when its cap is used up; start again those it
    stopped once the cap leaves room (and nothing else blocks them). `locked`: its
    campaigns `_lock_with_campaigns` took."""
    await repo.save(session, account)
    reason = StopReason.ACCOUNT_BUDGET_REACHED.value
    full = account_left(account, now) == 0
    waiting_now = [c for c in locked.values() if c.stop_reason == reason]
    drawable = {} if full else await drawable_now(session, waiting_now)
    stopped, restarted = [], []
    for campaign in locked.values():
        if (
            full
            and campaign.ad_account_id == account.id
            and stop(session, campaign, StopReason(reason), now)
        ):
            await campaign_repo.save(session, campaign)
            stopped.append(campaign.id)
        elif campaign.stop_reason == reason and await reconsider(
            session, campaign, account, drawable, now
        ):
            restarted.append(campaign.id)
    return AccountOutcome(account.id, tuple(stopped), tuple(restarted))


async def roll_one(session: AsyncSession, account_id: int, now: datetime) -> AccountOutcome:
    """The roll-budget-periods job, one account: a period that ended starts again from zero,
    and the campaigns its cap stopped deliver again when it leaves room."""
    account, campaigns = await _lock_with_campaigns(session, account_id)
    if account is None:
        return AccountOutcome(account_id)
    roll(account, now)
    return await reconsider_account(session, account, campaigns, now)


async def _record(
    session: AsyncSession,
    account: AdAccount,
    after: BudgetSetting,
    actor_user_id: int,
    source: ChangeSource,
    now: datetime,
) -> None:
    before = setting_of(account)
    account.budget_mode, account.budget_amount = after.mode.value, after.amount
    change = AdAccountBudgetChange(
        ad_account_id=account.id,
        actor_user_id=actor_user_id,
        source=source.value,
        changed_at=now,
        before_mode=before.mode.value,
        before_amount=before.amount,
        before_period_start=before.period_start,
        before_period_end=before.period_end,
        after_mode=after.mode.value,
        after_amount=after.amount,
        after_period_start=after.period_start,
        after_period_end=after.period_end,
    )
    await repo.save(session, change)
    by_sync = source is ChangeSource.BUDGET_SYNC
    data = snapshots.budget_cap_change(account, before, after, by_sync, now)
    await events.record(
        session,
        account.business_center_id,
        EventType.ACCOUNT_BUDGET_CAP_CHANGED,
        "AdAccount",
        account.id,
        data,
        now,
    )


def _same(current: BudgetSetting, wanted: BudgetSetting) -> bool:
    """Setting the cap it already has changes nothing and uses up no change."""
    return current == wanted


def _setting(currency: str, cmd: BudgetCommand, now: datetime) -> BudgetSetting:
    amount = None
    if cmd.amount is not None:
        field = ("input", "amount")
        if cmd.amount.currency.value != currency:
            raise CurrencyMismatch(
                message=f"the ad account settles in {currency}",
                expected=currency,
                field=(*field, "currencyCode"),
            )
        amount = parse_amount(cmd.amount.amount, Currency(currency), (*field, "amount")).minor
        if amount < 0:
            raise InvalidInput("a budget may not be negative", (*field, "amount"))
    return checked_setting(cmd.mode, amount, cmd.period_start, cmd.period_end, now)
