"""Applying a batch of new spend events (DESIGN §6, §7).

Locks, in the one lock order: the business centers the batch draws on, its campaigns
together with the delivering campaigns a cap or an empty center may stop, the batch's ad
accounts, then the ledger accounts it takes money from. What each event gets, from which
bucket, and which campaigns stop is decided by domain/spend.py over those locked states;
this writes it. A batch draws on a center's balance once per bucket and campaign, so a
hot center costs one row lock per batch, not per event.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.budgets import StopReason
from adledger.domain.campaigns import CampaignStatus, PaymentPlan, Reserve, SpendRefusal
from adledger.domain.errors import InvariantBroken
from adledger.domain.ledger import (
    AccountKind,
    AccountState,
    Move,
    TransactionKind,
    postings_for,
)
from adledger.domain.runway import utc_day
from adledger.domain.spend import (
    CampaignSpend,
    CampaignState,
    Decision,
    PoolState,
    SpendAsk,
    SpendDecision,
    SpendStates,
    decide,
)
from adledger.domain.stops import draws_as_it_spends, draws_on_center, on_credit_line
from adledger.services import guard_marks
from adledger.services.event_data import SpendTotals
from adledger.services.ledger import apply_entry
from adledger.services.stops import account_left, roll, stop
from adledger.store import budgets as budget_repo
from adledger.store import business_centers as centers
from adledger.store import campaigns as repo
from adledger.store import ledger as ledger_repo
from adledger.store import spend_writes
from adledger.store import wallets as wallet_repo
from adledger.store.locks import LockScopeChanged
from adledger.store.models import AdAccount, Campaign
from adledger.store.spend_writes import NewEntry, SpendWrites

Accounts = dict[AccountKind, int]


@dataclass(frozen=True, slots=True)
class CheckedEvent:
    index: int
    event_id: str
    campaign: Campaign
    amount: int
    impressions: int
    occurred_at: datetime


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
    session: AsyncSession,
    found: dict[int, Campaign],
    guessed: dict[int, AdAccount],
    asked: dict[int, int],
    now: datetime,
) -> Scope:
    """`asked`: what the batch asks for, per campaign; `guessed`: their ad accounts as read
    before any lock. Delivering campaigns outside the batch are locked too when the batch
    may use up their account's cap or empty their center, so that they can be stopped in
    the same transaction. Campaigns come before their ad accounts in the lock order, so
    which accounts may fill is guessed from that read, and checked again once they are
    held: a batch that finds it needs a campaign it did not lock raises LockScopeChanged,
    and the edge runs it again."""
    drawn = sorted(
        {c.business_center_id for c in found.values() if draws_as_it_spends(c.payment_plan)}
    )
    if drawn:
        await centers.lock_business_centers(session, drawn)
    account_ids = [c.ad_account_id for c in found.values()]
    per_account = _total(found, asked, "ad_account_id")
    emptied = await _may_empty(session, drawn, _total(found, asked, "business_center_id"))
    before = {account_id: guessed[account_id] for account_id in account_ids}
    others = await _may_stop(session, _may_fill(before, per_account, now), emptied)
    campaigns = await repo.lock_campaigns(session, [*found, *others])
    accounts = await budget_repo.lock_ad_accounts(session, account_ids)
    for account in accounts.values():
        roll(account, now)
    needed = await _may_stop(session, _may_fill(accounts, per_account, now), emptied)
    if not campaigns.keys() >= set(needed):
        raise LockScopeChanged("a concurrent writer changed an ad account's cap: run again")
    return Scope(accounts, campaigns, drawn)


async def _may_stop(session: AsyncSession, capped: list[int], emptied: list[int]) -> list[int]:
    """Delivering campaigns a full cap of `capped` or an empty center of `emptied` stops."""
    if not (capped or emptied):
        return []
    return await repo.delivering_ids(session, capped, emptied)


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
    totals: list[SpendTotals] = field(default_factory=list)
    """Per campaign of the batch, what it did (one partner event each)."""


@dataclass(slots=True)
class _Money:
    """The locked money of a batch: campaign reserves, and per center its pool."""

    reserves: dict[int, Accounts]
    locked: dict[int, AccountState]
    """Every ledger account the batch holds, in its current state (post_entry keeps it)."""
    pools: dict[int, PoolState]
    buckets: dict[int, Accounts]
    """Wallet id → bucket account ids, for the wallets a drawn batch takes from."""
    center_wallets: dict[int, int]
    """Center id → the center's own wallet id."""
    revenue: dict[str, int] = field(default_factory=dict)
    """Currency → the platform's revenue account, once looked up."""
    paid_by: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    """Wallet id → what its money paid for in this batch (the runway's burn rate)."""


async def apply_events(
    session: AsyncSession,
    events: list[CheckedEvent],
    refusals: list[SpendRefusal | None],
    scope: Scope,
    now: datetime,
) -> Applied:
    """Each campaign's new events, with the refusal of each for its time (`refusals`, in
    the same order): the states locked, the decision asked of domain/spend.py, written."""
    by_campaign: dict[int, list[CheckedEvent]] = defaultdict(list)
    for event in events:
        by_campaign[event.campaign.id].append(event)
    money = await _lock_money(session, [scope.campaigns[c] for c in by_campaign], scope)
    asks = [
        SpendAsk(e.event_id, e.campaign.id, e.amount, e.impressions, refusal)
        for e, refusal in zip(events, refusals, strict=True)
    ]
    decision = decide(asks, _states(scope, money, now))
    applied = Applied()
    budget_reached = {c for c, why in decision.stops if why is StopReason.CAMPAIGN_BUDGET_REACHED}
    start = 0  # decision.events: campaign by campaign, in the order of decision.campaigns
    entries: list[NewEntry] = []
    for taken in decision.campaigns:
        campaign = scope.campaigns[taken.campaign_id]
        mine = by_campaign[campaign.id]
        decided = decision.events[start : start + len(mine)]
        start += len(mine)
        _count(campaign, zip(mine, decided, strict=True), applied, taken.total)
        if taken.total:
            entries.append(await _entry(session, campaign, money, taken))
        if campaign.id in budget_reached and stop(
            session, campaign, StopReason.CAMPAIGN_BUDGET_REACHED, now
        ):
            applied.stopped.append(campaign.id)
        scope.accounts[campaign.ad_account_id].budget_spent += taken.total
    taking = [scope.campaigns[t.campaign_id] for t in decision.campaigns]
    await _write(session, entries, money, taking, scope, now)
    capped = [
        scope.campaigns[c] for c, why in decision.stops if why is StopReason.ACCOUNT_BUDGET_REACHED
    ]
    applied.stopped += await _stop_all(session, capped, StopReason.ACCOUNT_BUDGET_REACHED, now)
    applied.stopped += await _stop_unfunded(session, scope, decision, now)
    await session.flush()  # what else changed: a stop, a budget period rolled over
    return applied


def _states(scope: Scope, money: _Money, now: datetime) -> SpendStates:
    campaigns = {
        c.id: CampaignState(
            c.id,
            c.ad_account_id,
            c.business_center_id,
            c.payment_plan,
            c.status,
            c.budget,
            c.spent,
            _reserve(c, money) if c.id in money.reserves else None,
        )
        for c in scope.campaigns.values()
    }
    room = {a.id: account_left(a, now) for a in scope.accounts.values()}
    return SpendStates(campaigns, room, money.pools)


def _count(
    campaign: Campaign,
    pairs: Iterable[tuple[CheckedEvent, Decision]],
    applied: Applied,
    total: int,
) -> None:
    """The refusals reported, the events applied and their impressions; the campaign's
    totals (`total` applied)."""
    refused = impressions = events = 0
    for event, decision in pairs:
        if decision.event_id != event.event_id:
            raise InvariantBroken("decisions come in the batch's order, campaign by campaign")
        events += 1
        refused += decision.refused
        if decision.reason is not None:
            applied.refused.append(
                RefusedSpend(event.event_id, decision.refused, campaign.currency, decision.reason)
            )
        if decision.counted:
            applied.applied_events += 1
            impressions += event.impressions
    campaign.impressions += impressions
    applied.totals.append(SpendTotals(campaign, total, refused, impressions, events))


async def _lock_money(session: AsyncSession, batch: list[Campaign], scope: Scope) -> _Money:
    """The reserves of the batch's campaigns locked, with the revenue accounts read, in one
    statement; the buckets a drawing batch takes from in one or two more."""
    reserved = [c.id for c in batch if not draws_as_it_spends(c.payment_plan)]
    currencies = sorted({c.currency for c in batch})
    found = await repo.lock_reserves(session, reserved, currencies)
    states = found.states
    wallets, buckets = (
        await wallet_repo.drawn_buckets(
            session,
            [c.wallet_id for c in batch if draws_on_center(c.payment_plan)],
            scope.center_ids,
        )
        if scope.center_ids
        else ({}, {})
    )
    ids = [i for w, own in buckets.items() for k, i in own.items() if _drawn(k, wallets[w])]
    if ids:
        states.update(await ledger_repo.lock_accounts(session, ids))
    pools = _pools(batch, wallets, buckets, states)
    center_wallets = {center: wallet for wallet, center in wallets.items() if center is not None}
    return _Money(found.accounts, states, pools, buckets, center_wallets, found.revenue)


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
) -> dict[int, PoolState]:
    centers: dict[int, tuple[int, int]] = {}
    for wallet_id, center_id in wallets.items():
        if center_id is not None:
            cash = states[buckets[wallet_id][AccountKind.CASH]]
            line = states[buckets[wallet_id][AccountKind.CREDIT_LINE]]
            centers[center_id] = (cash.balance, line.balance + line.credit_limit)
    accounts: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
    for campaign in batch:
        if draws_on_center(campaign.payment_plan):
            own = buckets[campaign.wallet_id]
            balances = (
                states[own[AccountKind.CASH]].balance,
                states[own[AccountKind.VOUCHERS]].balance,
            )
            accounts[campaign.business_center_id][campaign.ad_account_id] = balances
    return {
        center: PoolState(cash, credit, accounts[center])
        for center, (cash, credit) in centers.items()
    }


def _reserve(campaign: Campaign, money: _Money) -> Reserve:
    own, states = money.reserves[campaign.id], money.locked
    return Reserve(
        states[own[AccountKind.RESERVE]].balance, states[own[AccountKind.VOUCHER_RESERVE]].balance
    )


async def _entry(
    session: AsyncSession, campaign: Campaign, money: _Money, taken: CampaignSpend
) -> NewEntry:
    """The campaign's SPEND entry of the batch, one posting per bucket it took from,
    applied to the locked states (kept current for the next entry, as post_entry keeps
    them); its totals moved on. Written with the batch's others (`_write`)."""
    revenue = await _revenue(session, campaign.currency, money)
    moves = [
        Move(source, revenue, amount, TransactionKind.SPEND)
        for source, amount in _sources(campaign, money, taken)
        if amount
    ]
    postings = postings_for(moves)
    states = {p.account_id: money.locked[p.account_id] for p in postings}
    applied = apply_entry(postings, states, money.locked)
    _paid_by(campaign, money, taken)
    campaign.spent += taken.total
    if draws_as_it_spends(campaign.payment_plan):
        campaign.taken += taken.total
    key = f"spend:{uuid.uuid4()}"
    description = f"Delivery of campaign {campaign.name}"
    return NewEntry(key, description, campaign.id, postings, applied.balances_after)


async def _write(
    session: AsyncSession,
    entries: list[NewEntry],
    money: _Money,
    campaigns: list[Campaign],
    scope: Scope,
    now: datetime,
) -> None:
    """The batch's entries, the customer accounts' balances they leave, the campaigns'
    and the ad accounts' totals and the wallets' spend of the day: one statement."""
    moved = {p.account_id for entry in entries for p in entry.postings}
    states = {i: money.locked[i] for i in sorted(moved)}
    balances = {i: state.balance for i, state in states.items() if not state.kind.is_platform}
    guard_marks.touched(session, balances)
    accounts = list(scope.accounts.values())
    writes = SpendWrites(entries, balances, campaigns, accounts, utc_day(now), money.paid_by)
    await spend_writes.write_spend(session, writes)


async def _revenue(session: AsyncSession, currency: str, money: _Money) -> int:
    """The platform's revenue account, its state beside the locked ones (read, not locked)."""
    if currency not in money.revenue:
        revenue = await ledger_repo.platform_account_id(session, AccountKind.REVENUE, currency)
        money.locked[revenue] = AccountState.platform(AccountKind.REVENUE, currency)
        money.revenue[currency] = revenue
    return money.revenue[currency]


def _paid_by(campaign: Campaign, money: _Money, taken: CampaignSpend) -> None:
    """Whose money paid: a CREDIT_BALANCE campaign's reserve came from its account's
    wallet at launch; a drawing campaign's account part from its account's wallet, the
    rest from its center's. A card-paid campaign's came from no wallet."""
    if campaign.payment_plan == PaymentPlan.CREDIT_BALANCE:
        money.paid_by[campaign.wallet_id] += taken.total
    elif draws_as_it_spends(campaign.payment_plan):
        drawn = taken.drawn
        money.paid_by[campaign.wallet_id] += drawn.account_cash + drawn.account_vouchers
        center = money.center_wallets[campaign.business_center_id]
        money.paid_by[center] += drawn.center_cash + drawn.center_credit


def _sources(campaign: Campaign, money: _Money, taken: CampaignSpend) -> list[tuple[int, int]]:
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


async def _stop_unfunded(
    session: AsyncSession, scope: Scope, decision: SpendDecision, now: datetime
) -> list[int]:
    """A center with no cash and no credit line left stops every drawn campaign whose
    account has nothing of its own left either, until money arrives (funding.py)."""
    drawn = [
        c
        for c in scope.campaigns.values()
        if c.business_center_id in decision.empty_centers
        and draws_on_center(c.payment_plan)
        and c.status == CampaignStatus.ACTIVE
    ]
    own = await _own_money(session, drawn, decision.own_left)
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
    session: AsyncSession, campaigns: list[Campaign], own_left: Mapping[int, int]
) -> dict[int, int]:
    """Each account's own cash and vouchers: what the batch's pools left, else read (only
    to decide whether to stop; spend draws under lock)."""
    own = dict(own_left)
    unread = {c.wallet_id: c.ad_account_id for c in campaigns if c.ad_account_id not in own}
    if unread:
        sums = await wallet_repo.own_money(session, list(unread))
        own.update({account: sums.get(wallet, 0) for wallet, account in unread.items()})
    return own
