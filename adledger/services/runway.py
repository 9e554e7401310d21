"""Runway of wallets (issue 27, domain/runway.py), read in a few statements for any number
of wallets: their rows, their balances, their spend per day over the window, and the
campaigns that may still take their money.

What a wallet's campaigns may still take (`Commitment`s):
- an ad account's wallet: its CREDIT_BALANCE campaigns waiting for funds (PENDING_FUNDS),
  the part of their budget not yet held or reserved, due at once (a campaign already
  launched took its budget out of the wallet: it takes nothing more); and its drawing
  campaigns (BUSINESS_CENTER_BALANCE), budget less taken, over their remaining flight
  (the account's own money is drawn first);
- a center's wallet: every campaign drawing on the center (BUSINESS_CENTER_BALANCE under
  automatic allocation, CREDIT_LINE), budget less taken, over its remaining flight; they
  are covered by the center's available balance plus the own available money of the
  accounts of its BUSINESS_CENTER_BALANCE campaigns, pooled (the draw takes an account's
  own money first; pooling counts one account's vouchers for another's campaign, a
  small optimism we accept for one read).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.campaigns import CampaignStatus, PaymentPlan
from adledger.domain.runway import Commitment, Runway, remaining, runway, utc_day, window_days
from adledger.domain.wallets import available
from adledger.store import runway as repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import Wallet


async def runways(
    session: AsyncSession, wallet_ids: Sequence[int], now: datetime
) -> dict[int, Runway]:
    """Each wallet's runway (the wallets not found are left out); four statements."""
    wallets = await wallet_repo.wallets_by_ids(session, list(wallet_ids))
    if not wallets:
        return {}
    own = [w.id for w in wallets]
    centers = [w.business_center_id for w in wallets if w.ad_account_id is None]
    campaigns = await repo.committed_campaigns(session, own, centers)
    drawing = {
        c.wallet_id for c in campaigns if c.payment_plan == PaymentPlan.BUSINESS_CENTER_BALANCE
    }
    sums = await wallet_repo.balances_by_wallet(session, sorted({*own, *drawing}))
    days = window_days(utc_day(now))
    spend = await repo.spend_days(session, own, days[-1], days[0])
    found = {}
    for wallet in wallets:
        planned, pooled = _commitments(wallet, campaigns, now)
        money = available(sums.get(wallet.id, {}), wallet.credit_limit)
        money += sum(available(sums.get(w, {}), 0) for w in pooled)
        found[wallet.id] = runway(money, spend.get(wallet.id, {}), planned, now)
    return found


def _commitments(
    wallet: Wallet, campaigns: Sequence[Any], now: datetime
) -> tuple[list[Commitment], set[int]]:
    """What the wallet's campaigns may still take, and the account wallets whose own money
    is pooled with a center's."""
    if wallet.ad_account_id is None:
        mine = [c for c in campaigns if c.business_center_id == wallet.business_center_id]
        drawn = [c for c in mine if c.payment_plan != PaymentPlan.CREDIT_BALANCE]
        pooled = {
            c.wallet_id for c in drawn if c.payment_plan == PaymentPlan.BUSINESS_CENTER_BALANCE
        }
        return [_drawn(c, now) for c in drawn], pooled
    planned = []
    for c in campaigns:
        if c.wallet_id != wallet.id:
            continue
        if c.payment_plan == PaymentPlan.BUSINESS_CENTER_BALANCE:
            planned.append(_drawn(c, now))
        elif (
            c.payment_plan == PaymentPlan.CREDIT_BALANCE
            and c.status == CampaignStatus.PENDING_FUNDS
        ):
            planned.append(remaining(c.budget - c.reserved, now, now, now))
    return planned, set()


def _drawn(campaign: Any, now: datetime) -> Commitment:
    return remaining(campaign.budget - campaign.taken, campaign.starts_at, campaign.ends_at, now)
