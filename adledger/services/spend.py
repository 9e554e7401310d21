"""Delivery reports from the ad server (DESIGN §6, §7): spend moves a campaign's reserve
(or, under automatic allocation, the money it draws bucket by bucket) to revenue, each
event once ever, never beyond the campaign's budget, its account's cap or the money there,
and only for the time the campaign delivered.

A batch is checked whole before anything is written (an unknown campaign, a wrong
currency, a bad amount or event id refuses it all); an occurredAt that is no instant
refuses its own event only (INVALID_INPUT, not recorded). Then what it may touch is locked
in the one lock order, its new events are inserted (the UNIQUE event id decides, also
against a concurrent batch), each is refused if its time was not delivering time, and each
campaign's spend is posted as one ledger entry (spend_draw.py).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.campaigns import (
    Delivery,
    Flight,
    Interval,
    SpendClock,
    SpendRefusal,
    SpendTarget,
    spend_refusal,
)
from adledger.domain.errors import (
    CurrencyMismatch,
    DomainError,
    Forbidden,
    InvalidInput,
    InvariantBroken,
    not_found,
)
from adledger.domain.instants import utc_instant
from adledger.domain.money import Currency, parse_amount
from adledger.domain.wallets import MoneyIn
from adledger.services import events as partner_events
from adledger.services.actor import Actor
from adledger.services.config import BillingConfig
from adledger.services.spend_draw import CheckedEvent, RefusedSpend, apply_events, lock_scope
from adledger.store import campaigns as repo
from adledger.store.models import AdAccount, Campaign

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
class SpendOutcome:
    accepted: int
    duplicates: int
    stopped_campaign_ids: list[int]
    refused: list[RefusedSpend] = field(default_factory=list)


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
    campaigns, accounts = await _campaigns_of(session, events)
    minor_of: dict[tuple[type, object, str], int] = {}  # a batch repeats few amounts
    checked = [_each(i, event, campaigns, minor_of) for i, event in enumerate(events)]
    valid = [e for e in checked if isinstance(e, CheckedEvent)]
    invalid = [e for e in checked if isinstance(e, RefusedSpend)]
    fresh = _first_of_each(valid)
    # Claimed before any row lock (the lock order's first level): the insert can take
    # milliseconds for a big batch, and whatever comes after the campaign locks holds
    # them until the commit, against every batch that spends on the same campaigns.
    inserted = await repo.insert_new_events(session, [_row(e) for e in fresh], now)
    new = [e for e in fresh if e.event_id in inserted]
    duplicates = len(valid) - len(new)
    if not new:  # a replay, or nothing valid: nothing to lock
        return SpendOutcome(0, duplicates, stopped_campaign_ids=[], refused=invalid)
    asked: dict[int, int] = defaultdict(int)
    for event in new:
        asked[event.campaign.id] += event.amount
    scope = await lock_scope(session, {c: campaigns[c] for c in asked}, accounts, asked, now)
    new = _on_locked_rows(new, scope.campaigns)
    refusals = await _refusals_by_time(session, new, _clock(config, now))
    applied = await apply_events(session, new, refusals, scope, now)
    refused = applied.refused
    await repo.record_refusals(
        session, [(inserted[r.event_id], r.amount, r.reason.value) for r in refused], now
    )
    await partner_events.record_spend(session, applied.totals, now)
    return SpendOutcome(
        accepted=applied.applied_events,
        duplicates=duplicates,
        stopped_campaign_ids=applied.stopped,
        refused=[*invalid, *refused],
    )


def _check_size(events: list[SpendEventIn]) -> None:
    if not 1 <= len(events) <= MAX_EVENTS:
        raise InvalidInput(
            f"a batch holds 1 to {MAX_EVENTS} events, not {len(events)}", ("input", "events")
        )


async def _campaigns_of(
    session: AsyncSession, events: list[SpendEventIn]
) -> tuple[dict[int, Campaign], dict[int, AdAccount]]:
    """The batch's campaigns, and their ad accounts as they were before any lock."""
    ids = {e.campaign_id for e in events if e.campaign_id is not None}
    campaigns, accounts = await repo.campaigns_with_accounts(session, list(ids))
    found = {c.id: c for c in campaigns}
    for index, event in enumerate(events):
        if event.campaign_id is None or event.campaign_id not in found:
            missing = not_found("campaign", ("input", "events", str(index), "campaignId"))
            raise of_event(index, missing)
    return found, accounts


def of_event(index: int, err: DomainError) -> DomainError:
    """The error of one event of the batch, said as such: "event 3: ..."."""
    return dataclasses.replace(err, message=f"event {index}: {err.message}")


def _each(
    index: int,
    event: SpendEventIn,
    campaigns: dict[int, Campaign],
    minor_of: dict[tuple[type, object, str], int],
) -> CheckedEvent | RefusedSpend:
    try:
        return _checked(index, event, campaigns, minor_of)
    except DomainError as err:
        raise of_event(index, err) from None


def _checked(
    index: int,
    event: SpendEventIn,
    campaigns: dict[int, Campaign],
    minor_of: dict[tuple[type, object, str], int],
) -> CheckedEvent | RefusedSpend:
    """The event checked, or refused on its own when its occurredAt is no instant; every
    other fault refuses the whole batch."""
    path = ("input", "events", str(index))
    if event.campaign_id is None:
        raise InvariantBroken(
            "event.campaign_id is not None (_campaigns_of refused the batch otherwise)"
        )
    campaign = campaigns[event.campaign_id]
    if event.amount.currency.value != campaign.currency:
        raise CurrencyMismatch(
            message=f"the campaign spends in {campaign.currency}",
            expected=campaign.currency,
            field=(*path, "amount", "currencyCode"),
        )
    raw = event.amount.amount
    key = (type(raw), raw, campaign.currency)  # the type too: True == 1, and True is refused
    minor = minor_of.get(key)
    field = (*path, "amount", "amount")
    if minor is None:
        minor = minor_of[key] = parse_amount(raw, Currency(campaign.currency), field).minor
    if minor < 0 or (minor == 0 and campaign.makegood_for_campaign_id is None):
        # A makegood flight (price 0) is reported impressions for an amount of 0.
        raise InvalidInput("amount must be greater than zero", field)
    _check_event(event, path)
    try:
        occurred_at = utc_instant(event.occurred_at, (*path, "occurredAt"))
    except InvalidInput as bad:
        reason = SpendRefusal.INVALID_INPUT
        message = of_event(index, bad).message
        return RefusedSpend(event.event_id, minor, campaign.currency, reason, bad.field, message)
    return CheckedEvent(index, event.event_id, campaign, minor, event.impressions, occurred_at)


def _check_event(event: SpendEventIn, path: tuple[str, ...]) -> None:
    if not 1 <= len(event.event_id) <= MAX_EVENT_ID_LENGTH or not event.event_id.isprintable():
        raise InvalidInput(
            f"eventId must be 1 to {MAX_EVENT_ID_LENGTH} printable characters",
            (*path, "eventId"),
        )
    if not 0 <= event.impressions <= MAX_IMPRESSIONS:
        raise InvalidInput("impressions must be 0 or more", (*path, "impressions"))


def _clock(config: BillingConfig, now: datetime) -> SpendClock:
    return SpendClock(now, config.settlement_window, config.spend_clock_skew)


async def _refusals_by_time(
    session: AsyncSession, events: list[CheckedEvent], clock: SpendClock
) -> list[SpendRefusal | None]:
    """Each event's refusal for its time, on its locked campaign (in the events' order).
    The closed delivering intervals are read only for the events outside their campaign's
    open one (one statement, those overlapping these events' times); none when all are
    inside."""
    # One target per campaign (a batch is mostly one campaign's events), not one per event.
    open_targets = {e.campaign.id: e.campaign for e in events}
    targets = {cid: _target(campaign, []) for cid, campaign in open_targets.items()}
    refusals = [spend_refusal(targets[e.campaign.id], e.occurred_at, clock) for e in events]
    unsure = [i for i, r in enumerate(refusals) if r is SpendRefusal.CAMPAIGN_NOT_DELIVERING]
    if not unsure:
        return refusals
    times = [events[i].occurred_at for i in unsure]
    ids = sorted({events[i].campaign.id for i in unsure})
    closed = await repo.delivery_intervals(session, ids, min(times), max(times))
    for i in unsure:
        target = _target(events[i].campaign, closed.get(events[i].campaign.id, []))
        refusals[i] = spend_refusal(target, events[i].occurred_at, clock)
    return refusals


def _target(campaign: Campaign, closed: list[Interval]) -> SpendTarget:
    return SpendTarget(
        Flight(campaign.starts_at, campaign.ends_at),
        Delivery(campaign.delivering_since, tuple(closed)),
        campaign.settled_at is not None,
    )


def _first_of_each(events: list[CheckedEvent]) -> list[CheckedEvent]:
    """Events of the batch by first occurrence of their id (a repeat is a duplicate)."""
    seen: set[str] = set()
    fresh: list[CheckedEvent] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            fresh.append(event)
    return fresh


def _on_locked_rows(events: list[CheckedEvent], locked: dict[int, Campaign]) -> list[CheckedEvent]:
    """The events on their campaigns' rows as locked: the same row objects, as a rule
    (the session's identity map), so no copy then."""
    return [
        event
        if locked[event.campaign.id] is event.campaign
        else dataclasses.replace(event, campaign=locked[event.campaign.id])
        for event in events
    ]


def _row(event: CheckedEvent) -> dict[str, object]:
    return {
        "event_id": event.event_id,
        "campaign_id": event.campaign.id,
        "amount": event.amount,
        "impressions": event.impressions,
        "occurred_at": event.occurred_at,
    }
