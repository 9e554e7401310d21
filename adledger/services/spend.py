"""Delivery reports from the ad server (DESIGN §6): spend moves a campaign's reserve to
revenue, each event once ever, never beyond the reserve.

A batch is checked whole before anything is written (an unknown campaign or a wrong
currency refuses it all). Then its campaigns are locked in id order, its new events are
inserted (the UNIQUE event id decides, also against a concurrent batch), and each
campaign's spend is posted as one ledger entry.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.campaigns import (
    Action,
    CampaignStatus,
    Reserve,
    SpendRefusal,
    SpendTarget,
    spend_refusal,
    take_from_reserve,
    transition,
)
from adledger.domain.errors import CurrencyMismatch, Forbidden, InvalidInput, NotFound
from adledger.domain.ledger import AccountKind, Move, TransactionKind
from adledger.domain.money import Currency, parse_positive_amount
from adledger.services.actor import Actor
from adledger.services.config import BillingConfig
from adledger.services.funding import flight_of
from adledger.services.ledger import post_entry
from adledger.services.wallets import MoneyIn
from adledger.store import campaigns as repo
from adledger.store import ledger as ledger_repo
from adledger.store.models import Campaign

MAX_EVENTS = 1000
MAX_EVENT_ID_LENGTH = 200
MAX_IMPRESSIONS = 10**12


@dataclass(frozen=True, slots=True)
class SpendEventIn:
    event_id: str
    campaign_id: int | None
    """None when the id given was not a campaign's: NOT_FOUND for the whole batch."""
    amount: MoneyIn
    impressions: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class RefusedSpend:
    event_id: str
    amount: int
    currency: str
    reason: SpendRefusal


@dataclass(frozen=True, slots=True)
class SpendOutcome:
    accepted: int
    duplicates: int
    stopped_campaign_ids: list[int]
    refused: list[RefusedSpend] = field(default_factory=list)


@dataclass(slots=True)
class _Event:
    index: int
    event_id: str
    campaign: Campaign
    amount: int
    impressions: int
    occurred_at: datetime


async def record_spend(
    session: AsyncSession,
    actor: Actor,
    events: list[SpendEventIn],
    config: BillingConfig,
    now: datetime,
) -> SpendOutcome:
    if not (actor.is_integration or actor.is_staff):
        raise Forbidden("only the ad server's integration token (or staff) may record spend")
    _check_size(events)
    campaigns = await _campaigns_of(session, events)
    checked = [_checked(i, event, campaigns) for i, event in enumerate(events)]
    locked = await repo.lock_campaigns(session, list(campaigns))
    fresh, repeated = _first_of_each(checked, locked)
    inserted = await repo.insert_new_events(session, [_row(e) for e in fresh])
    new = [e for e in fresh if e.event_id in inserted]
    applied, refused, stopped = await _apply(session, new, config, now)
    await repo.record_refusals(session, [(r.event_id, r.amount, r.reason.value) for r in refused])
    return SpendOutcome(
        accepted=applied,
        duplicates=repeated + len(fresh) - len(new),
        stopped_campaign_ids=stopped,
        refused=refused,
    )


def _check_size(events: list[SpendEventIn]) -> None:
    if not 1 <= len(events) <= MAX_EVENTS:
        raise InvalidInput(
            f"a batch holds 1 to {MAX_EVENTS} events, not {len(events)}", ("input", "events")
        )


async def _campaigns_of(session: AsyncSession, events: list[SpendEventIn]) -> dict[int, Campaign]:
    ids = {e.campaign_id for e in events if e.campaign_id is not None}
    found = {c.id: c for c in await repo.campaigns_by_ids(session, list(ids))}
    for index, event in enumerate(events):
        if event.campaign_id is None or event.campaign_id not in found:
            raise NotFound(
                f"event {index}: no campaign has this id",
                ("input", "events", str(index), "campaignId"),
            )
    return found


def _checked(index: int, event: SpendEventIn, campaigns: dict[int, Campaign]) -> _Event:
    path = ("input", "events", str(index))
    assert event.campaign_id is not None  # _campaigns_of refused the batch otherwise
    campaign = campaigns[event.campaign_id]
    if event.amount.currency.value != campaign.currency:
        raise CurrencyMismatch(
            message=f"event {index}: the campaign spends in {campaign.currency}",
            expected=campaign.currency,
            field=(*path, "amount", "currencyCode"),
        )
    amount = parse_positive_amount(
        event.amount.amount, Currency(campaign.currency), (*path, "amount", "amount")
    )
    _check_event(event, path)
    return _Event(
        index, event.event_id, campaign, amount.minor, event.impressions, event.occurred_at
    )


def _check_event(event: SpendEventIn, path: tuple[str, ...]) -> None:
    if not 1 <= len(event.event_id) <= MAX_EVENT_ID_LENGTH or not event.event_id.isprintable():
        raise InvalidInput(
            f"eventId must be 1 to {MAX_EVENT_ID_LENGTH} printable characters",
            (*path, "eventId"),
        )
    if not 0 <= event.impressions <= MAX_IMPRESSIONS:
        raise InvalidInput("impressions must be 0 or more", (*path, "impressions"))
    if event.occurred_at.tzinfo is None:
        raise InvalidInput("occurredAt needs a UTC offset", (*path, "occurredAt"))


def _first_of_each(events: list[_Event], locked: dict[int, Campaign]) -> tuple[list[_Event], int]:
    """Events of the batch by first occurrence of their id, on the locked campaign rows;
    and how many repeated an id earlier in the batch."""
    seen: set[str] = set()
    fresh: list[_Event] = []
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        event.campaign = locked[event.campaign.id]
        fresh.append(event)
    return fresh, len(events) - len(fresh)


def _row(event: _Event) -> dict[str, object]:
    return {
        "event_id": event.event_id,
        "campaign_id": event.campaign.id,
        "amount": event.amount,
        "refused": 0,
        "impressions": event.impressions,
        "occurred_at": event.occurred_at,
    }


async def _apply(
    session: AsyncSession, events: list[_Event], config: BillingConfig, now: datetime
) -> tuple[int, list[RefusedSpend], list[int]]:
    by_campaign: dict[int, list[_Event]] = defaultdict(list)
    for event in events:
        by_campaign[event.campaign.id].append(event)
    accounts = await repo.campaign_accounts(session, list(by_campaign))
    ids = [
        accounts[c][k]
        for c in by_campaign
        for k in (AccountKind.RESERVE, AccountKind.VOUCHER_RESERVE)
    ]
    states = await ledger_repo.lock_accounts(session, ids)
    applied, refused, stopped = 0, [], []
    for campaign_id, batch in sorted(by_campaign.items()):
        own = accounts[campaign_id]
        reserve = Reserve(
            states[own[AccountKind.RESERVE]].balance,
            states[own[AccountKind.VOUCHER_RESERVE]].balance,
        )
        result = _spend(batch, reserve, config, now)
        applied += result.applied_events
        refused.extend(result.refused)
        if await _post(session, batch[0].campaign, own, result.taken, now):
            stopped.append(campaign_id)
    return applied, refused, stopped


@dataclass(slots=True)
class _Result:
    taken: Reserve
    applied_events: int
    refused: list[RefusedSpend]


def _spend(batch: list[_Event], reserve: Reserve, config: BillingConfig, now: datetime) -> _Result:
    campaign = batch[0].campaign
    target = SpendTarget(
        CampaignStatus(campaign.status),
        flight_of(campaign),
        campaign.paused_at,
        campaign.settled_at is not None,
    )
    left, window = reserve.total, config.settlement_window
    result = _Result(Reserve(0, 0), 0, [])
    for event in batch:
        reason = spend_refusal(target, event.occurred_at, now, window)
        applied = 0 if reason else min(event.amount, left)
        if applied < event.amount:
            result.refused.append(
                RefusedSpend(
                    event.event_id,
                    event.amount - applied,
                    campaign.currency,
                    reason or SpendRefusal.OVER_BUDGET,
                )
            )
        if applied:
            result.applied_events += 1
            campaign.impressions += event.impressions
        left -= applied
    result.taken = take_from_reserve(reserve, reserve.total - left)
    return result


async def _post(
    session: AsyncSession,
    campaign: Campaign,
    own: dict[AccountKind, int],
    taken: Reserve,
    now: datetime,
) -> bool:
    """Post the campaign's spend; True when it stopped the campaign (budget reached)."""
    if taken.total:
        revenue = await ledger_repo.platform_account_id(
            session, AccountKind.REVENUE, campaign.currency
        )
        kind = TransactionKind.SPEND
        moves = [
            Move(own[AccountKind.VOUCHER_RESERVE], revenue, taken.vouchers, kind)
            if taken.vouchers
            else None,
            Move(own[AccountKind.RESERVE], revenue, taken.cash, kind) if taken.cash else None,
        ]
        await post_entry(
            session,
            operation="spend",
            moves=[m for m in moves if m is not None],
            description=f"Delivery of campaign {campaign.name}",
            actor_user_id=None,
            campaign_id=campaign.id,
        )
        campaign.spent += taken.total
    stops = campaign.status == CampaignStatus.ACTIVE and campaign.spent >= campaign.budget
    if stops:
        status = transition(CampaignStatus.ACTIVE, Action.EXHAUST, flight_of(campaign), now)
        campaign.status = status.value
    await repo.save(session, campaign)
    return stops
