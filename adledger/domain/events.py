"""Partner events (issue 26): the published, closed list of event types, the API version
their snapshots follow, and the pure rules around them (which types a filter names, which
event a campaign's status change is, how large a snapshot may be, which months of events
are old enough to drop)."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from adledger.domain.campaigns import CampaignStatus
from adledger.domain.errors import InvalidInput
from adledger.domain.months import month_start, next_month

API_VERSION = "2026-12-01"
"""The shape of every snapshot (`data`): the GraphQL API's objects as of this version."""

MAX_DATA_BYTES = 256 * 1024
"""A snapshot larger than this (as JSON) is cut to the object's id and a note."""

MIN_RETENTION_DAYS = 30
"""Events are kept at least this long (EVENT_RETENTION_DAYS may only raise it)."""

MAX_TYPE_LENGTH = 64


class EventType(enum.StrEnum):
    """Every event a partner may receive, by its dotted name. Closed: a filter naming
    anything else is refused (`check_types`)."""

    TOP_UP_PAID = "top_up.paid"
    TOP_UP_FAILED = "top_up.failed"
    INVOICE_OPENED = "invoice.opened"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
    INVOICE_VOIDED = "invoice.voided"
    INVOICE_DISCOUNTED = "invoice.discounted"
    CAMPAIGN_LAUNCHED = "campaign.launched"
    CAMPAIGN_ACTIVATED = "campaign.activated"
    CAMPAIGN_PAUSED = "campaign.paused"
    CAMPAIGN_RESUMED = "campaign.resumed"
    CAMPAIGN_STOPPED = "campaign.stopped"
    CAMPAIGN_COMPLETED = "campaign.completed"
    CAMPAIGN_CANCELED = "campaign.canceled"
    CAMPAIGN_REJECTED = "campaign.rejected"
    SPEND_APPLIED = "spend.applied"
    CREDIT_ISSUED = "credit.issued"
    REFUND_REQUESTED = "refund.requested"
    REFUND_APPROVED = "refund.approved"
    REFUND_DECLINED = "refund.declined"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    MAKEGOOD_OFFERED = "makegood.offered"
    MAKEGOOD_ACCEPTED = "makegood.accepted"
    MAKEGOOD_DECLINED = "makegood.declined"
    AUTOMATIC_ALLOCATION_ENABLED = "automatic_allocation.enabled"
    ACCOUNT_BUDGET_CAP_CHANGED = "ad_account.budget_cap_changed"
    CREDIT_LINE_CHANGED = "credit_line.changed"
    CARD_SAVED = "card.saved"
    PLAN_SUBSCRIPTION_RENEWED = "plan_subscription.renewed"
    PLAN_SUBSCRIPTION_CANCELED = "plan_subscription.canceled"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
    AUTO_RECHARGE_SUSPENDED = "auto_recharge.suspended"
    TEST_PING = "test.ping"
    BALANCE_LOW = "balance.low"
    RUNWAY_LOW = "runway.low"


_NAMES = frozenset(t.value for t in EventType)


def check_types(names: Sequence[str], field: tuple[str, ...] = ("types",)) -> list[EventType]:
    """The types a filter names, each once, in the order given; the first unknown name is
    refused, named in the message. More names than there are types cannot all be distinct:
    refused before anything is looked at."""
    if len(names) > len(EventType):
        raise InvalidInput(f"at most {len(EventType)} event types, not {len(names)}", field)
    known: dict[EventType, None] = {}
    for index, name in enumerate(names):
        if name not in _NAMES:
            shown = name if len(name) <= MAX_TYPE_LENGTH else name[:MAX_TYPE_LENGTH] + "…"
            raise InvalidInput(f"unknown event type {shown!r}", (*field, str(index)))
        known[EventType(name)] = None
    return list(known)


_LEFT_FOR = {
    CampaignStatus.PAUSED: EventType.CAMPAIGN_PAUSED,
    CampaignStatus.BUDGET_EXHAUSTED: EventType.CAMPAIGN_STOPPED,
    CampaignStatus.COMPLETED: EventType.CAMPAIGN_COMPLETED,
    CampaignStatus.CANCELED: EventType.CAMPAIGN_CANCELED,
    CampaignStatus.REJECTED: EventType.CAMPAIGN_REJECTED,
}
_HALTED = frozenset({CampaignStatus.PAUSED, CampaignStatus.BUDGET_EXHAUSTED})
_DELIVERING = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE})


def campaign_event_types(was: CampaignStatus, now: CampaignStatus) -> tuple[EventType, ...]:
    """The events a campaign's status change is, in order; none when it did not change
    (or changed in a way no partner is told of: funded, and not started yet)."""
    if was is now:
        return ()
    if now in _LEFT_FOR:
        return (_LEFT_FOR[now],)
    if was is CampaignStatus.DRAFT:
        # Launched straight into delivery: a partner waiting for "activated" hears it too.
        if now is CampaignStatus.ACTIVE:
            return (EventType.CAMPAIGN_LAUNCHED, EventType.CAMPAIGN_ACTIVATED)
        return (EventType.CAMPAIGN_LAUNCHED,)
    if was in _HALTED and now in _DELIVERING:
        return (EventType.CAMPAIGN_RESUMED,)
    if now is CampaignStatus.ACTIVE:
        return (EventType.CAMPAIGN_ACTIVATED,)
    return ()


def bounded(data: dict[str, Any], object_id: str | None) -> dict[str, Any]:
    """The snapshot, or, when it would be larger than MAX_DATA_BYTES as JSON, only the
    object's id and where to read the rest (no payload ever grows past the bound)."""
    if len(json.dumps(data, separators=(",", ":")).encode()) <= MAX_DATA_BYTES:
        return data
    return {
        "id": object_id,
        "truncated": True,
        "note": "larger than 256 KB: read the object with node(id:)",
    }


def cutoff(now: datetime, retention_days: int) -> datetime:
    """Events created before this may be dropped (never less than MIN_RETENTION_DAYS ago)."""
    return now - timedelta(days=max(retention_days, MIN_RETENTION_DAYS))


def months_to_drop(months: Iterable[date], before: datetime) -> list[date]:
    """The months lying entirely before `before` (their end at or before it): a month is
    dropped whole or not at all, so nothing younger than the cutoff goes with it."""
    return sorted(m for m in months if month_start(next_month(m)) <= before)
