"""Money between a wallet and its campaigns: funding waiting campaigns when money arrives,
and returning a campaign's money to the wallet.

Lock order (services/ledger.py): campaigns before ledger accounts. Whoever brings money
into a wallet therefore locks the wallet's waiting campaigns first (`lock_waiting`), then
credits, then funds them (`fund_waiting`), all in the money's own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.allocation import AllocationMode
from adledger.domain.budgets import StopReason
from adledger.domain.campaigns import Action, CampaignStatus, Flight, Reserve, draw, transition
from adledger.domain.events import EventType
from adledger.domain.ledger import AccountKind, AccountState, Move, TransactionKind
from adledger.services import event_data_money as snapshots
from adledger.services import events
from adledger.services.delivery import set_status
from adledger.services.ledger import post_entry
from adledger.services.stops import drawable_now, reconsider
from adledger.store import business_centers as centers
from adledger.store import campaigns as repo
from adledger.store import ledger as ledger_repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import Campaign

Locked = dict[int, Campaign]


async def lock_waiting(
    session: AsyncSession,
    wallet_id: int,
    also: Sequence[int] = (),
    *,
    center: CenterMode | None = None,
    waiting: Sequence[int] | None = None,
) -> Locked:
    """The wallet's waiting campaigns and `also`, locked together in id order. A campaign
    that starts waiting after this read waits for the next money to arrive.

    Under automatic allocation, money arriving in any wallet of the center may restart the
    campaigns that stopped for lack of it: the center is locked first (spend draws on it
    under that lock), then those campaigns are locked with the rest. `center`: the
    wallet's center and its allocation mode, when the caller holds them already (it
    locked the center); `waiting`: the waiting campaigns, when the caller read them (as
    `waiting_campaign_ids` does, without a lock): then they are not read again."""
    if waiting is None:
        waiting = await repo.waiting_campaign_ids(session, wallet_id)
    stopped = await _stopped_for_funds(session, wallet_id, center)
    if not waiting and not stopped and not also:
        return {}
    return await repo.lock_campaigns(session, [*waiting, *stopped, *also])


@dataclass(frozen=True, slots=True)
class CenterMode:
    center_id: int
    allocation_mode: str


async def _stopped_for_funds(
    session: AsyncSession, wallet_id: int, center: CenterMode | None
) -> list[int]:
    if center is None:
        center = await _center_mode(session, wallet_id)
    if center is None or center.allocation_mode != AllocationMode.AUTOMATIC:
        return []
    await centers.lock_business_center(session, center.center_id)
    reason = StopReason.BUSINESS_CENTER_BALANCE_EXHAUSTED.value
    return await repo.stopped_ids(session, reason, center_id=center.center_id)


async def _center_mode(session: AsyncSession, wallet_id: int) -> CenterMode | None:
    found = await wallet_repo.center_mode_of(session, wallet_id)
    return None if found is None else CenterMode(*found)


def flight_of(campaign: Campaign) -> Flight:
    return Flight(campaign.starts_at, campaign.ends_at)


@dataclass(frozen=True, slots=True)
class WalletAccounts:
    cash: int
    vouchers: int


async def wallet_accounts(session: AsyncSession, wallet_id: int) -> WalletAccounts:
    cash = await wallet_repo.wallet_account(session, wallet_id, AccountKind.CASH)
    vouchers = await wallet_repo.wallet_account(session, wallet_id, AccountKind.VOUCHERS)
    return WalletAccounts(cash.id, vouchers.id)


async def fund_waiting(
    session: AsyncSession,
    wallet_id: int,
    locked: Locked,
    now: datetime,
    first: int | None = None,
) -> list[int]:
    """Fund the locked waiting campaigns of the wallet, oldest launch first (`first`, a
    campaign whose own shortfall invoice was just paid, before all). A campaign the
    wallet cannot cover in full keeps waiting; a younger, smaller one may still start.
    Then the locked campaigns that stopped for lack of money start again if they can."""
    funded = await _fund_pending(session, wallet_id, locked, now, first)
    await _restart_stopped(session, locked, now)
    return funded


async def _restart_stopped(session: AsyncSession, locked: Locked, now: datetime) -> None:
    reason = StopReason.BUSINESS_CENTER_BALANCE_EXHAUSTED.value
    stopped = [
        c
        for c in locked.values()
        if c.status == CampaignStatus.BUDGET_EXHAUSTED and c.stop_reason == reason
    ]
    if not stopped:
        return
    accounts = await centers.ad_accounts_by_ids(session, [c.ad_account_id for c in stopped])
    by_id = {account.id: account for account in accounts}
    drawable = await drawable_now(session, stopped)
    for campaign in sorted(stopped, key=lambda c: c.id):
        await reconsider(session, campaign, by_id[campaign.ad_account_id], drawable, now)


async def _fund_pending(
    session: AsyncSession,
    wallet_id: int,
    locked: Locked,
    now: datetime,
    first: int | None,
) -> list[int]:
    waiting = sorted(
        (
            c
            for c in locked.values()
            if c.wallet_id == wallet_id and c.status == CampaignStatus.PENDING_FUNDS
        ),
        key=lambda c: (c.id != first, c.launched_at, c.id),
    )
    if not waiting:
        return []
    wallet = await wallet_accounts(session, wallet_id)
    accounts = await repo.campaign_accounts(session, [c.id for c in waiting])
    ids = [wallet.cash, wallet.vouchers, *(i for a in accounts.values() for i in a.values())]
    states = await ledger_repo.lock_accounts(session, ids)
    funded: list[int] = []
    for campaign in waiting:
        if await _fund_one(session, campaign, wallet, accounts[campaign.id], states, now):
            funded.append(campaign.id)
            states = await ledger_repo.lock_accounts(session, ids)
    return funded


async def _fund_one(
    session: AsyncSession,
    campaign: Campaign,
    wallet: WalletAccounts,
    own: dict[AccountKind, int],
    states: dict[int, AccountState],
    now: datetime,
) -> bool:
    hold = states[own[AccountKind.HOLD]].balance
    set_aside = hold + states[own[AccountKind.VOUCHER_RESERVE]].balance
    taking = draw(
        campaign.budget - set_aside, states[wallet.vouchers].balance, states[wallet.cash].balance
    )
    if taking.short:
        return False
    reserve, kind = own[AccountKind.RESERVE], TransactionKind.CAMPAIGN_LAUNCH
    moves = [
        Move(own[AccountKind.HOLD], reserve, hold, kind) if hold else None,
        Move(wallet.vouchers, own[AccountKind.VOUCHER_RESERVE], taking.vouchers, kind)
        if taking.vouchers
        else None,
        Move(wallet.cash, reserve, taking.cash, kind) if taking.cash else None,
    ]
    await post_entry(
        session,
        operation="campaign_funding",
        moves=[m for m in moves if m is not None],
        description=f"Campaign {campaign.name} funded",
        actor_user_id=None,
        idempotency_key=f"campaign:{campaign.id}:funded",
        campaign_id=campaign.id,
    )
    campaign.taken += taking.total
    funded = transition(CampaignStatus.PENDING_FUNDS, Action.FUND, flight_of(campaign), now)
    set_status(session, campaign, funded, now)
    await repo.save(session, campaign)
    return True


@dataclass(frozen=True, slots=True)
class CampaignMoney:
    reserve: Reserve
    hold: int
    accounts: dict[AccountKind, int]

    @property
    def total(self) -> int:
        return self.reserve.total + self.hold


async def campaign_money(session: AsyncSession, campaign_id: int) -> CampaignMoney:
    """The campaign's accounts, locked (the campaign row is already ours)."""
    accounts = (await repo.campaign_accounts(session, [campaign_id]))[campaign_id]
    states = await ledger_repo.lock_accounts(session, list(accounts.values()))
    balance = {kind: states[account_id].balance for kind, account_id in accounts.items()}
    return CampaignMoney(
        Reserve(balance[AccountKind.RESERVE], balance[AccountKind.VOUCHER_RESERVE]),
        balance[AccountKind.HOLD],
        accounts,
    )


@dataclass(frozen=True, slots=True)
class Return:
    """Money going back from a campaign to its wallet."""

    reserve: Reserve
    hold: int
    kind: TransactionKind
    description: str
    key: str | None
    """Unique per campaign for what happens once (its release, its settlement)."""
    actor_user_id: int | None = None

    @property
    def total(self) -> int:
        return self.reserve.total + self.hold


async def return_to_wallet(
    session: AsyncSession, campaign: Campaign, back: Return, now: datetime
) -> None:
    """Cash parts to the wallet's cash, voucher parts to its vouchers: one transaction per
    bucket touched, and one `credit.issued`. The caller has locked the campaign and its
    accounts."""
    if back.total == 0:
        return
    wallet = await wallet_accounts(session, campaign.wallet_id)
    # Both of the wallet's buckets, in id order, before either moves: a return moving only
    # vouchers would otherwise hold them when fund_waiting, which often follows, takes the
    # cash below them (out of the one order, and a deadlock with a writer in that order).
    await ledger_repo.lock_accounts(session, [wallet.cash, wallet.vouchers])
    own = (await repo.campaign_accounts(session, [campaign.id]))[campaign.id]
    moves = [
        Move(own[AccountKind.HOLD], wallet.cash, back.hold, back.kind) if back.hold else None,
        Move(own[AccountKind.RESERVE], wallet.cash, back.reserve.cash, back.kind)
        if back.reserve.cash
        else None,
        Move(own[AccountKind.VOUCHER_RESERVE], wallet.vouchers, back.reserve.vouchers, back.kind)
        if back.reserve.vouchers
        else None,
    ]
    await post_entry(
        session,
        operation=back.kind.value.lower(),
        moves=[m for m in moves if m is not None],
        description=back.description,
        actor_user_id=back.actor_user_id,
        idempotency_key=back.key,
        campaign_id=campaign.id,
    )
    campaign.credited += back.total
    credit = snapshots.Credit(back.kind.value, back.total, back.description)
    await credit_issued(session, campaign, credit, now)


async def credit_issued(
    session: AsyncSession, campaign: Campaign, credit: snapshots.Credit, now: datetime
) -> None:
    """The partner event of money of the campaign back to its wallet (none for nothing)."""
    if credit.amount <= 0:
        return
    await events.record(
        session,
        campaign.business_center_id,
        EventType.CREDIT_ISSUED,
        "Campaign",
        campaign.id,
        snapshots.credit(campaign, credit),
        now,
    )
