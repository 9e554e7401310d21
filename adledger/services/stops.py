"""Campaigns stopped because a budget or the money ran out, and started again when the
reason is gone (DESIGN §7). One place decides, so every path (spend, a budget change, a
period rolling over, money arriving) stops and restarts campaigns the same way.

The caller holds the campaign's lock. Balances (and the ad account's cap, outside
setAdAccountBudget and the roll-over) are read here without a lock: they only decide
whether a campaign may try to deliver. The money itself is always drawn under lock by
spend, which stops the campaign again if it is not there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.budgets import (
    BudgetSetting,
    CapState,
    StopReason,
    blocked_by,
    cap_state,
    setting_from,
)
from adledger.domain.campaigns import CampaignStatus, Flight, restarted
from adledger.domain.stops import draws_on_center, stopped
from adledger.services.delivery import set_status
from adledger.store import campaigns as repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import AdAccount, Campaign


def cap_of(account: AdAccount, now: datetime) -> CapState:
    return cap_state(
        account.budget_mode,
        account.budget_amount,
        account.budget_period_start,
        account.budget_period_end,
        account.budget_spent,
        now,
    )


def setting_of(account: AdAccount) -> BudgetSetting:
    return setting_from(
        account.budget_mode,
        account.budget_amount,
        account.budget_period_start,
        account.budget_period_end,
    )


def roll(account: AdAccount, now: datetime) -> None:
    """Bring the account's counter to the period holding `now` (a locked row)."""
    cap = cap_of(account, now)
    account.budget_period_start, account.budget_period_end = cap.period.start, cap.period.end
    account.budget_spent = cap.spent


def account_left(account: AdAccount, now: datetime) -> int | None:
    """What the account's cap lets it spend now; None when nothing caps it."""
    return cap_of(account, now).left


def stop(session: AsyncSession, campaign: Campaign, reason: StopReason, now: datetime) -> bool:
    """ACTIVE → BUDGET_EXHAUSTED for `reason`; False when it was not delivering."""
    status = stopped(campaign.status)
    if status is None:
        return False
    set_status(session, campaign, status, now)
    campaign.stop_reason = reason.value
    return True


async def drawable_now(session: AsyncSession, campaigns: Iterable[Campaign]) -> dict[int, int]:
    """Per drawn campaign's ad account, what it may draw now: its own cash and vouchers and
    its center's cash and credit line left (two statements, however many campaigns)."""
    drawn = [c for c in campaigns if draws_on_center(c.payment_plan)]
    if not drawn:
        return {}
    pools = await wallet_repo.center_pools(session, sorted({c.business_center_id for c in drawn}))
    own = await wallet_repo.own_money(session, sorted({c.wallet_id for c in drawn}))
    return {
        c.ad_account_id: own.get(c.wallet_id, 0) + pools.get(c.business_center_id, 0) for c in drawn
    }


async def reconsider(
    session: AsyncSession,
    campaign: Campaign,
    account: AdAccount,
    drawable: dict[int, int],
    now: datetime,
) -> bool:
    """A stopped campaign delivers again when nothing blocks it any more; otherwise it keeps
    the reason that blocks it now. True when it started again. `drawable`: what
    `drawable_now` answered for the campaigns being reconsidered."""
    if campaign.status != CampaignStatus.BUDGET_EXHAUSTED:
        return False
    reason = blocked_by(
        campaign.spent,
        campaign.budget,
        account_left(account, now),
        drawable.get(campaign.ad_account_id) if draws_on_center(campaign.payment_plan) else None,
    )
    status = None if reason else restarted(Flight(campaign.starts_at, campaign.ends_at), now)
    if status is None:
        campaign.stop_reason = reason.value if reason else campaign.stop_reason
        await repo.save(session, campaign)
        return False
    set_status(session, campaign, status, now)
    campaign.stop_reason = None
    await repo.save(session, campaign)
    return True
