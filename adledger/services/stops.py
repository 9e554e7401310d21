"""Campaigns stopped because a budget or the money ran out, and started again when the
reason is gone (DESIGN §7). One place decides, so every path (spend, a budget change, a
period rolling over, money arriving) stops and restarts campaigns the same way.

The caller holds the campaign's lock. Balances (and the ad account's cap, outside
setAdAccountBudget and the roll-over) are read here without a lock: they only decide
whether a campaign may try to deliver. The money itself is always drawn under lock by
spend, which stops the campaign again if it is not there.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.budgets import (
    BudgetSetting,
    StopReason,
    blocked_by,
    current_period,
    remaining,
    setting_from,
)
from adledger.domain.budgets import Period as BudgetPeriod
from adledger.domain.campaigns import CampaignStatus, Flight, PaymentPlan, restarted
from adledger.domain.ledger import AccountKind
from adledger.store import campaigns as repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import AdAccount, Campaign


def setting_of(account: AdAccount) -> BudgetSetting:
    return setting_from(
        account.budget_mode,
        account.budget_amount,
        account.budget_period_start,
        account.budget_period_end,
    )


def stored_period(account: AdAccount) -> BudgetPeriod | None:
    if account.budget_period_start is None or account.budget_period_end is None:
        return None
    return BudgetPeriod(account.budget_period_start, account.budget_period_end)


def roll(account: AdAccount, now: datetime) -> None:
    """Bring the account's counter to the period holding `now` (a locked row)."""
    period, spent = current_period(
        setting_of(account), stored_period(account), account.budget_spent, now
    )
    account.budget_period_start, account.budget_period_end = period.start, period.end
    account.budget_spent = spent


def account_left(account: AdAccount, now: datetime) -> int | None:
    """What the account's cap lets it spend now; None when nothing caps it."""
    setting = setting_of(account)
    _, spent = current_period(setting, stored_period(account), account.budget_spent, now)
    return remaining(setting, spent, now)


def draws_on_center(campaign: Campaign) -> bool:
    return campaign.payment_plan == PaymentPlan.BUSINESS_CENTER_BALANCE


def stop(campaign: Campaign, reason: StopReason) -> bool:
    """ACTIVE → BUDGET_EXHAUSTED for `reason`; False when it was not delivering."""
    if campaign.status != CampaignStatus.ACTIVE:
        return False
    campaign.status = CampaignStatus.BUDGET_EXHAUSTED.value
    campaign.stop_reason = reason.value
    return True


async def drawable_now(session: AsyncSession, campaign: Campaign) -> int | None:
    """What a drawn campaign may draw now (its account's cash and vouchers, the center's
    cash and credit line left); None for a campaign paid from its reserve."""
    if not draws_on_center(campaign):
        return None
    center_wallet = (await wallet_repo.wallets_of_centers(session, [campaign.business_center_id]))[
        0
    ]
    sums = await wallet_repo.balances_by_wallet(session, [campaign.wallet_id, center_wallet.id])
    own, shared = sums.get(campaign.wallet_id, {}), sums.get(center_wallet.id, {})
    credit = center_wallet.credit_limit + shared.get(AccountKind.CREDIT_LINE.value, 0)
    return (
        own.get(AccountKind.CASH.value, 0)
        + own.get(AccountKind.VOUCHERS.value, 0)
        + shared.get(AccountKind.CASH.value, 0)
        + max(credit, 0)
    )


async def reconsider(
    session: AsyncSession, campaign: Campaign, account: AdAccount, now: datetime
) -> bool:
    """A stopped campaign delivers again when nothing blocks it any more; otherwise it keeps
    the reason that blocks it now. True when it started again."""
    if campaign.status != CampaignStatus.BUDGET_EXHAUSTED:
        return False
    reason = blocked_by(
        campaign.spent,
        campaign.budget,
        account_left(account, now),
        await drawable_now(session, campaign),
    )
    status = None if reason else restarted(Flight(campaign.starts_at, campaign.ends_at), now)
    if status is None:
        campaign.stop_reason = reason.value if reason else campaign.stop_reason
        await repo.save(session, campaign)
        return False
    campaign.status, campaign.stop_reason = status.value, None
    await repo.save(session, campaign)
    return True
