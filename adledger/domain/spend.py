"""The spend decision (DESIGN §6, §7) as a pure function: given a batch of new events and
the locked states they touch, how much of each event is applied, from which buckets, why
the rest is refused, and which campaigns stop. Nothing given is changed; the service
locks, builds the states, asks, and writes what is decided (services/spend_draw.py).

Each event is applied up to the smallest of: the campaign's reserve (or, for a campaign
that draws as it spends, what its budget leaves), its account's cap, and the money it may
draw; in the batch's order, campaign by campaign (by id).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from adledger.domain.allocation import CenterPool, Drawn
from adledger.domain.budgets import StopReason
from adledger.domain.campaigns import CampaignStatus, Reserve, SpendRefusal, take_from_reserve
from adledger.domain.stops import draws_as_it_spends, on_credit_line


class SpendAsk(NamedTuple):
    """One new event of the batch (a named tuple, as `Decision`: a batch holds up to a
    thousand, and they are built on the hot path of recordSpend)."""

    event_id: str
    campaign_id: int
    amount: int
    impressions: int
    refusal: SpendRefusal | None = None
    """Why it cannot be applied at all (its time), decided before the money."""


@dataclass(frozen=True, slots=True)
class CampaignState:
    id: int
    ad_account_id: int
    business_center_id: int
    payment_plan: str
    status: str
    budget: int
    spent: int
    reserve: Reserve | None = None
    """A campaign with a reserve: what it holds; None for one that draws as it spends."""


@dataclass(frozen=True, slots=True)
class PoolState:
    """A center's drawable money: its cash and credit line left, and per ad account drawing
    on it, that account's own (cash, vouchers)."""

    cash: int
    credit: int
    accounts: Mapping[int, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpendStates:
    campaigns: Mapping[int, CampaignState]
    """The batch's campaigns and every other campaign locked with them (a cap may stop it)."""
    account_room: Mapping[int, int | None]
    """Per ad account locked: what its cap still lets it spend (never below 0); None when
    nothing caps it."""
    pools: Mapping[int, PoolState]
    """Per center the batch draws on."""


class Decision(NamedTuple):
    """One event: `applied` + `refused` is its amount. `reason` is set when a refusal is
    reported for it (also for an event of amount 0 refused for its time); `counted`: it
    counts as applied (its impressions too)."""

    event_id: str
    campaign_id: int
    applied: int
    refused: int
    reason: SpendRefusal | None
    counted: bool


@dataclass(frozen=True, slots=True)
class CampaignSpend:
    """What one campaign's events of the batch take, bucket by bucket: one draw of their
    total (the same split as event by event, since the order of buckets is fixed)."""

    campaign_id: int
    total: int
    reserve: Reserve
    """For a campaign with a reserve: from its cash and its vouchers."""
    drawn: Drawn
    """For a campaign that draws as it spends: from each bucket it draws on."""


@dataclass(frozen=True, slots=True)
class SpendDecision:
    events: tuple[Decision, ...]
    """Campaign by campaign (by id), each in the batch's order."""
    campaigns: tuple[CampaignSpend, ...]
    """By campaign id, one per campaign of the batch."""
    stops: tuple[tuple[int, StopReason], ...]
    """Campaigns to stop, in order: those whose budget the batch reached, then every
    delivering campaign of an account whose cap is used up."""
    empty_centers: frozenset[int]
    """Centers with no cash and no credit line left: their drawn campaigns stop when their
    account has nothing of its own left either."""
    own_left: Mapping[int, int]
    """Per ad account drawing on a pool: its own cash and vouchers left."""
    account_room: Mapping[int, int | None]
    """What each account's cap still lets it spend after the batch."""


def decide(batch: Sequence[SpendAsk], states: SpendStates) -> SpendDecision:
    """The batch's events decided over the states it holds locked; `batch` and `states`
    stay as they were."""
    by_campaign: dict[int, list[SpendAsk]] = defaultdict(list)
    for ask in batch:
        by_campaign[ask.campaign_id].append(ask)
    room = dict(states.account_room)
    pools = {
        center: CenterPool(pool.cash, pool.credit, dict(pool.accounts))
        for center, pool in states.pools.items()
    }
    decisions: list[Decision] = []
    spends: list[CampaignSpend] = []
    stops: list[tuple[int, StopReason]] = []
    for campaign_id, asks in sorted(by_campaign.items()):
        campaign = states.campaigns[campaign_id]
        decided = _campaign(asks, campaign, pools, room)
        decisions += decided
        spends.append(_draw(campaign, pools, sum([d.applied for d in decided])))
        if _budget_reached(campaign, campaign.spent + spends[-1].total):
            stops.append((campaign.id, StopReason.CAMPAIGN_BUDGET_REACHED))
    stops += _capped(states.campaigns, room, {c for c, _ in stops})
    return SpendDecision(
        tuple(decisions),
        tuple(spends),
        tuple(stops),
        frozenset(c for c, pool in pools.items() if pool.cash + pool.credit <= 0),
        {a: cash + vouchers for p in pools.values() for a, (cash, vouchers) in p.accounts.items()},
        room,
    )


def _campaign(
    asks: list[SpendAsk],
    campaign: CampaignState,
    pools: dict[int, CenterPool],
    room: dict[int, int | None],
) -> list[Decision]:
    """Each event up to what is left of the campaign's room, its account's cap and the
    money it may draw, in order."""
    own_room, funds = _campaign_room(campaign), _funds(campaign, pools)
    cap_room = room[campaign.ad_account_id]
    decided = []
    for ask in asks:
        reason = ask.refusal
        limit = ask.amount if cap_room is None else cap_room
        got = 0 if reason else min(ask.amount, own_room, funds, limit)
        why = None
        if got < ask.amount or (reason and not ask.amount):
            why = reason or _binding(got, own_room, cap_room)
        # A makegood flight's reports (amount 0) count their impressions only.
        counted = bool(got) or (not reason and not ask.amount)
        if got:
            own_room, funds = own_room - got, funds - got
            cap_room = None if cap_room is None else cap_room - got
        decided.append(Decision(ask.event_id, campaign.id, got, ask.amount - got, why, counted))
    room[campaign.ad_account_id] = cap_room
    return decided


def _reserve(campaign: CampaignState) -> Reserve:
    return campaign.reserve or Reserve(0, 0)


def _campaign_room(campaign: CampaignState) -> int:
    if draws_as_it_spends(campaign.payment_plan):
        return max(campaign.budget - campaign.spent, 0)
    return _reserve(campaign).total


def _funds(campaign: CampaignState, pools: dict[int, CenterPool]) -> int:
    """What a drawn campaign may draw; a reserve campaign's money is its room."""
    if not draws_as_it_spends(campaign.payment_plan):
        return _reserve(campaign).total
    pool = pools[campaign.business_center_id]
    if on_credit_line(campaign.payment_plan):
        return pool.line_left
    return pool.drawable(campaign.ad_account_id)


def _draw(campaign: CampaignState, pools: dict[int, CenterPool], total: int) -> CampaignSpend:
    """The campaign's total out of its buckets in their fixed order (its pool lowered)."""
    reserve, drawn = Reserve(0, 0), Drawn()
    if not draws_as_it_spends(campaign.payment_plan):
        reserve = take_from_reserve(_reserve(campaign), total)
    elif on_credit_line(campaign.payment_plan):
        drawn = pools[campaign.business_center_id].draw_on_line(total)
    else:
        drawn = pools[campaign.business_center_id].draw(campaign.ad_account_id, total)
    return CampaignSpend(campaign.id, total, reserve, drawn)


def _binding(got: int, campaign_room: int, account_room: int | None) -> SpendRefusal:
    """Which limit cut the event short: the campaign's, its account's cap, or the money."""
    if campaign_room <= got:
        return SpendRefusal.OVER_BUDGET
    if account_room is not None and account_room <= got:
        return SpendRefusal.ACCOUNT_BUDGET_REACHED
    return SpendRefusal.INSUFFICIENT_FUNDS


def _budget_reached(campaign: CampaignState, spent: int) -> bool:
    """A flight's price is 0: it never reaches a budget."""
    delivering = campaign.status == CampaignStatus.ACTIVE
    return delivering and campaign.budget > 0 and spent >= campaign.budget


def _capped(
    campaigns: Mapping[int, CampaignState], room: dict[int, int | None], stopped: set[int]
) -> list[tuple[int, StopReason]]:
    """An account whose cap is used up stops every campaign of it that still delivers."""
    full = {account for account, left in room.items() if left is not None and left <= 0}
    return [
        (c.id, StopReason.ACCOUNT_BUDGET_REACHED)
        for c in sorted(campaigns.values(), key=lambda c: c.id)
        if c.ad_account_id in full and c.status == CampaignStatus.ACTIVE and c.id not in stopped
    ]
