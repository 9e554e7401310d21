"""Applying a batch of new spend events (DESIGN §6, §7).

Locks, in the one lock order: the business centers the batch draws on, the batch's ad
accounts, its campaigns together with the delivering campaigns a cap or an empty center
may stop, then the ledger accounts it takes money from. Each event is applied up to the
smallest of: the campaign's reserve (or, for a drawn campaign, what its budget leaves),
its account's cap, and the money it may draw. A batch draws on a center's balance once
per bucket and campaign, so a hot center costs one row lock per batch, not per event.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.allocation import CenterPool, Drawn
from adledger.domain.budgets import StopReason
from adledger.domain.campaigns import CampaignStatus, Reserve, SpendRefusal, take_from_reserve
from adledger.domain.ledger import AccountKind, AccountState, Move, TransactionKind
from adledger.domain.stops import draws_as_it_spends, draws_on_center, on_credit_line
from adledger.services.ledger import post_entry
from adledger.services.stops import account_left, roll, stop
from adledger.store import budgets as budget_repo
from adledger.store import business_centers as centers
from adledger.store import campaigns as repo
from adledger.store import ledger as ledger_repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import AdAccount, Campaign

Accounts = dict[AccountKind, int]


@dataclass(slots=True)
class CheckedEvent:
    index: int
    event_id: str
    campaign: Campaign
    amount: int
    impressions: int
    occurred_at: datetime
    refusal: SpendRefusal | None = None
    """Why it cannot be applied at all (its time, spend.py), decided before the money."""


@dataclass(frozen=True, slots=True)
class RefusedSpend:
    event_id: str
    amount: int
    currency: str
    reason: SpendRefusal
    field: tuple[str, ...] | None = None
    """With INVALID_INPUT: the input at fault, and why (`message`)."""
    message: str | None = None


@dataclass(slots=True)
class Scope:
    """What a batch holds locked before it touches money."""

    accounts: dict[int, AdAccount]
    campaigns: dict[int, Campaign]
    center_ids: list[int]
    """Centers the batch draws on (automatic allocation)."""


async def lock_scope(
    session: AsyncSession, found: dict[int, Campaign], asked: dict[int, int], now: datetime
) -> Scope:
    """`asked`: what the batch asks for, per campaign. Delivering campaigns outside the
    batch are locked too when the batch may use up their account's cap or empty their
    center, so that they can be stopped in the same transaction, in the lock order."""
    drawn = sorted(
        {c.business_center_id for c in found.values() if draws_as_it_spends(c.payment_plan)}
    )
    if drawn:
        await centers.lock_business_centers(session, drawn)
    accounts = await budget_repo.lock_ad_accounts(
        session, [c.ad_account_id for c in found.values()]
    )
    for account in accounts.values():
        roll(account, now)
    capped = _may_fill(accounts, _total(found, asked, "ad_account_id"), now)
    emptied = await _may_empty(session, drawn, _total(found, asked, "business_center_id"))
    others = await repo.delivering_ids(session, capped, emptied) if capped or emptied else []
    campaigns = await repo.lock_campaigns(session, [*found, *others])
    return Scope(accounts, campaigns, drawn)


def _total(found: dict[int, Campaign], asked: dict[int, int], key: str) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for campaign_id, amount in asked.items():
        totals[getattr(found[campaign_id], key)] += amount
    return totals


def _may_fill(accounts: dict[int, AdAccount], asked: dict[int, int], now: datetime) -> list[int]:
    """Accounts whose cap this batch may use up (or that have none left)."""
    filled = []
    for account in accounts.values():
        left = account_left(account, now)
        if left is not None and asked[account.id] >= left:
            filled.append(account.id)
    return filled


async def _may_empty(
    session: AsyncSession, center_ids: list[int], asked: dict[int, int]
) -> list[int]:
    """Centers whose cash and credit line this batch may use up. Read without locking the
    ledger rows: under the center's lock nothing else lowers them (spend, payments from the
    balance and credit-line changes all take that lock first)."""
    if not center_ids:
        return []
    pools = await wallet_repo.center_pools(session, center_ids)
    return [center for center in center_ids if asked[center] >= pools.get(center, 0)]


@dataclass(slots=True)
class Applied:
    applied_events: int = 0
    refused: list[RefusedSpend] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Money:
    """The locked money of a batch: campaign reserves, and per center its pool."""

    reserves: dict[int, Accounts]
    locked: dict[int, AccountState]
    """Every ledger account the batch holds, in its current state (post_entry keeps it)."""
    pools: dict[int, CenterPool]
    buckets: dict[int, Accounts]
    """Wallet id → bucket account ids, for the wallets a drawn batch takes from."""
    center_wallets: dict[int, int]
    """Center id → the center's own wallet id."""
    revenue: dict[str, int] = field(default_factory=dict)
    """Currency → the platform's revenue account, once looked up."""


async def apply_events(
    session: AsyncSession,
    events: list[CheckedEvent],
    scope: Scope,
    now: datetime,
) -> Applied:
    """Each campaign's new events, its time refusals (`CheckedEvent.refusal`) decided."""
    by_campaign: dict[int, list[CheckedEvent]] = defaultdict(list)
    for event in events:
        by_campaign[event.campaign.id].append(event)
    money = await _lock_money(session, [scope.campaigns[c] for c in by_campaign], scope)
    room = {a.id: account_left(a, now) for a in scope.accounts.values()}
    applied = Applied()
    for campaign_id, batch in sorted(by_campaign.items()):
        campaign = scope.campaigns[campaign_id]
        taken = _spend(batch, campaign, money, room, applied)
        if await _post(session, campaign, money, taken, now):
            applied.stopped.append(campaign.id)
        scope.accounts[campaign.ad_account_id].budget_spent += taken.total
    applied.stopped += await _stop_capped(session, scope, room, now)
    applied.stopped += await _stop_unfunded(session, scope, money, now)
    for account in scope.accounts.values():
        await budget_repo.save(session, account)
    return applied


async def _lock_money(session: AsyncSession, batch: list[Campaign], scope: Scope) -> _Money:
    reserved = [c.id for c in batch if not draws_as_it_spends(c.payment_plan)]
    reserves = await repo.campaign_accounts(session, reserved) if reserved else {}
    wallets, buckets = (
        await wallet_repo.drawn_buckets(
            session,
            [c.wallet_id for c in batch if draws_on_center(c.payment_plan)],
            scope.center_ids,
        )
        if scope.center_ids
        else ({}, {})
    )
    ids = [i for own in reserves.values() for k, i in own.items() if k is not AccountKind.HOLD]
    ids += [i for w, own in buckets.items() for k, i in own.items() if _drawn(k, wallets[w])]
    states = await ledger_repo.lock_accounts(session, ids)
    pools = _pools(batch, wallets, buckets, states)
    center_wallets = {center: wallet for wallet, center in wallets.items() if center is not None}
    return _Money(reserves, states, pools, buckets, center_wallets)


def _drawn(kind: AccountKind, center_id: int | None) -> bool:
    """A center gives its cash and credit line, never its vouchers; an account its cash
    and vouchers."""
    if center_id is None:
        return kind in (AccountKind.CASH, AccountKind.VOUCHERS)
    return kind in (AccountKind.CASH, AccountKind.CREDIT_LINE)


def _pools(
    batch: list[Campaign],
    wallets: dict[int, int | None],
    buckets: dict[int, Accounts],
    states: dict[int, AccountState],
) -> dict[int, CenterPool]:
    pools: dict[int, CenterPool] = {}
    for wallet_id, center_id in wallets.items():
        if center_id is not None:
            cash = states[buckets[wallet_id][AccountKind.CASH]]
            line = states[buckets[wallet_id][AccountKind.CREDIT_LINE]]
            pools[center_id] = CenterPool(cash.balance, line.balance + line.credit_limit)
    for campaign in batch:
        if draws_on_center(campaign.payment_plan):
            own = buckets[campaign.wallet_id]
            balances = (
                states[own[AccountKind.CASH]].balance,
                states[own[AccountKind.VOUCHERS]].balance,
            )
            pools[campaign.business_center_id].accounts[campaign.ad_account_id] = balances
    return pools


@dataclass(slots=True)
class _Taken:
    reserve: Reserve = field(default_factory=lambda: Reserve(0, 0))
    drawn: Drawn = field(default_factory=Drawn)
    total: int = 0


def _spend(
    batch: list[CheckedEvent],
    campaign: Campaign,
    money: _Money,
    room: dict[int, int | None],
    applied: Applied,
) -> _Taken:
    """Each event up to what is left of the campaign's room, its account's cap and the money
    it may draw, in order; then one draw of the campaign's total, bucket by bucket (the same
    split as event by event, since the order of buckets is fixed)."""
    account_id = campaign.ad_account_id
    own_room, cap_room, funds = (
        _campaign_room(campaign, money),
        room[account_id],
        _funds(campaign, money),
    )
    total = 0
    for event in batch:
        reason = event.refusal
        got = (
            0
            if reason
            else min(event.amount, own_room, funds, event.amount if cap_room is None else cap_room)
        )
        if got < event.amount or (reason and not event.amount):
            why = reason or _binding(got, own_room, cap_room)
            applied.refused.append(
                RefusedSpend(event.event_id, event.amount - got, campaign.currency, why)
            )
        if got or (not reason and not event.amount):
            # A makegood flight's reports (amount 0) count their impressions only.
            applied.applied_events += 1
            campaign.impressions += event.impressions
            own_room, funds, total = own_room - got, funds - got, total + got
            cap_room = None if cap_room is None else cap_room - got
    room[account_id] = cap_room
    return _taken(campaign, money, total)


def _funds(campaign: Campaign, money: _Money) -> int:
    """What a drawn campaign may draw; a reserve campaign's money is its room."""
    if not draws_as_it_spends(campaign.payment_plan):
        return _reserve(campaign, money).total
    pool = money.pools[campaign.business_center_id]
    if on_credit_line(campaign.payment_plan):
        return pool.line_left
    return pool.drawable(campaign.ad_account_id)


def _taken(campaign: Campaign, money: _Money, total: int) -> _Taken:
    if not draws_as_it_spends(campaign.payment_plan):
        return _Taken(reserve=take_from_reserve(_reserve(campaign, money), total), total=total)
    pool = money.pools[campaign.business_center_id]
    if on_credit_line(campaign.payment_plan):
        return _Taken(drawn=pool.draw_on_line(total), total=total)
    return _Taken(drawn=pool.draw(campaign.ad_account_id, total), total=total)


def _campaign_room(campaign: Campaign, money: _Money) -> int:
    if draws_as_it_spends(campaign.payment_plan):
        return max(campaign.budget - campaign.spent, 0)
    return _reserve(campaign, money).total


def _reserve(campaign: Campaign, money: _Money) -> Reserve:
    own, states = money.reserves[campaign.id], money.locked
    return Reserve(
        states[own[AccountKind.RESERVE]].balance, states[own[AccountKind.VOUCHER_RESERVE]].balance
    )


def _binding(got: int, campaign_room: int, account_room: int | None) -> SpendRefusal:
    """Which limit cut the event short: the campaign's, its account's cap, or the money."""
    if campaign_room <= got:
        return SpendRefusal.OVER_BUDGET
    if account_room is not None and account_room <= got:
        return SpendRefusal.ACCOUNT_BUDGET_REACHED
    return SpendRefusal.INSUFFICIENT_FUNDS


async def _post(
    session: AsyncSession, campaign: Campaign, money: _Money, taken: _Taken, now: datetime
) -> bool:
    """One SPEND entry per campaign and batch, one posting per bucket it took from; True
    when the campaign's own budget is reached and it stopped."""
    if taken.total:
        revenue = await _revenue(session, campaign.currency, money)
        await post_entry(
            session,
            operation="spend",
            moves=[
                Move(source, revenue, amount, TransactionKind.SPEND)
                for source, amount in _sources(campaign, money, taken)
                if amount
            ],
            description=f"Delivery of campaign {campaign.name}",
            actor_user_id=None,
            campaign_id=campaign.id,
            locked=money.locked,
        )
        campaign.spent += taken.total
        if draws_as_it_spends(campaign.payment_plan):
            campaign.taken += taken.total
    reached = campaign.budget > 0 and campaign.spent >= campaign.budget  # a flight's price is 0
    stops = reached and stop(session, campaign, StopReason.CAMPAIGN_BUDGET_REACHED, now)
    await repo.save(session, campaign)
    return stops


async def _revenue(session: AsyncSession, currency: str, money: _Money) -> int:
    """The platform's revenue account, its state beside the locked ones (read, not locked)."""
    if currency not in money.revenue:
        revenue = await ledger_repo.platform_account_id(session, AccountKind.REVENUE, currency)
        money.locked[revenue] = AccountState.platform(AccountKind.REVENUE, currency)
        money.revenue[currency] = revenue
    return money.revenue[currency]


def _sources(campaign: Campaign, money: _Money, taken: _Taken) -> list[tuple[int, int]]:
    if not draws_as_it_spends(campaign.payment_plan):
        own = money.reserves[campaign.id]
        return [
            (own[AccountKind.VOUCHER_RESERVE], taken.reserve.vouchers),
            (own[AccountKind.RESERVE], taken.reserve.cash),
        ]
    center = money.buckets[money.center_wallets[campaign.business_center_id]]
    drawn = [
        (center[AccountKind.CASH], taken.drawn.center_cash),
        (center[AccountKind.CREDIT_LINE], taken.drawn.center_credit),
    ]
    if on_credit_line(campaign.payment_plan):
        return drawn
    own = money.buckets[campaign.wallet_id]
    return [
        (own[AccountKind.CASH], taken.drawn.account_cash),
        (own[AccountKind.VOUCHERS], taken.drawn.account_vouchers),
        *drawn,
    ]


async def _stop_capped(
    session: AsyncSession, scope: Scope, room: dict[int, int | None], now: datetime
) -> list[int]:
    """An account whose cap is used up stops every campaign of it that still delivers."""
    full = {account_id for account_id, left in room.items() if left is not None and left <= 0}
    reason = StopReason.ACCOUNT_BUDGET_REACHED
    return await _stop_all(
        session, [c for c in scope.campaigns.values() if c.ad_account_id in full], reason, now
    )


async def _stop_unfunded(
    session: AsyncSession, scope: Scope, money: _Money, now: datetime
) -> list[int]:
    """A center with no cash and no credit line left stops every drawn campaign whose
    account has nothing of its own left either, until money arrives (funding.py)."""
    empty = {center for center, pool in money.pools.items() if pool.cash + pool.credit <= 0}
    drawn = [
        c
        for c in scope.campaigns.values()
        if c.business_center_id in empty
        and draws_on_center(c.payment_plan)
        and c.status == CampaignStatus.ACTIVE
    ]
    own = await _own_money(session, drawn, money)
    broke = [c for c in drawn if own[c.ad_account_id] <= 0]
    return await _stop_all(session, broke, StopReason.BUSINESS_CENTER_BALANCE_EXHAUSTED, now)


async def _stop_all(
    session: AsyncSession, campaigns: list[Campaign], reason: StopReason, now: datetime
) -> list[int]:
    stopped = []
    for campaign in sorted(campaigns, key=lambda c: c.id):
        if stop(session, campaign, reason, now):
            await repo.save(session, campaign)
            stopped.append(campaign.id)
    return stopped


async def _own_money(
    session: AsyncSession, campaigns: list[Campaign], money: _Money
) -> dict[int, int]:
    """Each account's own cash and vouchers: from the batch's locked pool, else read (only
    to decide whether to stop; spend draws under lock)."""
    own: dict[int, int] = {}
    for pool in money.pools.values():
        own.update({a: cash + vouchers for a, (cash, vouchers) in pool.accounts.items()})
    unread = {c.wallet_id: c.ad_account_id for c in campaigns if c.ad_account_id not in own}
    if unread:
        sums = await wallet_repo.own_money(session, list(unread))
        own.update({account: sums.get(wallet, 0) for wallet, account in unread.items()})
    return own
