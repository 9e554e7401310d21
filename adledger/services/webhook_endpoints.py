"""Partner webhook endpoints, managed by a center's ADMIN and FINANCE_MANAGER (issue 26,
docs/integrations.md): create, update, delete, rotate the secret, send a test event,
queue an event again (redeliver) or every event since a cursor (replay).

The delivery job (services/webhook_delivery.py) sends what is queued: an endpoint's
`cursor` is the last event sequence already queued for it, so an endpoint created (or
enabled again) with the center's current last sequence receives events from then on.

A URL is checked when it is saved, DNS included (services/webhook_targets.py), after the
caller's role is known and before any row is locked: a slow resolver holds no lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.access import Permission
from adledger.domain.errors import InvalidInput, not_found
from adledger.domain.events import EventType
from adledger.domain.webhooks import check_event_types, clean_description
from adledger.services import access, webhook_data
from adledger.services import events as event_log
from adledger.services.actor import Actor
from adledger.services.webhook_signing import generate_secret
from adledger.services.webhook_targets import Resolver, resolve_and_check, system_resolver
from adledger.store import business_centers as centers
from adledger.store import webhook_endpoints as repo
from adledger.store.webhook_models import WebhookEndpoint

MAX_ENDPOINTS = 10
"""Endpoints a business center may have."""
REPLAY_BATCH = 1000
"""Events one replayWebhookEvents call queues at most."""

ENABLED = "ENABLED"
DISABLED = "DISABLED"
DISABLED_BY_MEMBER = "disabled by a member"
TEST_MESSAGE = "A test event: your endpoint receives and verifies webhooks from adledger."

CENTER_FIELD = ("input", "businessCenterId")
ENDPOINT_FIELD = ("input", "endpointId")
EVENT_FIELD = ("input", "eventId")
AFTER_FIELD = ("input", "after")

_KNOWN_TYPES = frozenset(t.value for t in EventType)


@dataclass(frozen=True, slots=True)
class TargetRules:
    """How a saved URL is checked: production takes public https endpoints only;
    `allow_private` (WEBHOOK_ALLOW_PRIVATE_TARGETS: development, tests) takes http and
    local addresses too. `resolver` answers DNS (tests inject one)."""

    allow_private: bool = False
    resolver: Resolver = system_resolver

    async def checked_url(self, url: str) -> str:
        """The URL as it is stored, if it and every address its host resolves to may
        receive webhooks; else InvalidInput on ("input", "url") saying why."""
        target = await resolve_and_check(
            url, allow_private=self.allow_private, resolver=self.resolver
        )
        return target.url.url


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    center_id: int
    url: str
    event_types: Sequence[str] | None
    """None or empty: every type, those published later included."""
    description: str | None


@dataclass(frozen=True, slots=True)
class EndpointChange:
    """What updateWebhookEndpoint changes: a None field stays as it is, except
    `description` when `description_given` (then None clears it)."""

    endpoint_id: int
    url: str | None = None
    event_types: Sequence[str] | None = None
    description: str | None = None
    description_given: bool = False
    status: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointOutcome:
    endpoint: WebhookEndpoint
    """The row as the change left it (deleted: as it was)."""
    secret: str | None = None
    """A new signing secret, shown this once (create, rotate)."""


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    endpoint: WebhookEndpoint
    replayed: repo.Replayed


# -- create, update, delete ---------------------------------------------------------------


async def create_endpoint(
    session: AsyncSession, actor: Actor, command: NewEndpoint, rules: TargetRules, now: datetime
) -> EndpointOutcome:
    """A new ENABLED endpoint receiving the center's events from its current last
    sequence on; at most MAX_ENDPOINTS per center (counted under the center's lock)."""
    await access.require(
        session,
        actor,
        command.center_id,
        Permission.MANAGE_WEBHOOKS,
        field=CENTER_FIELD,
        what="business center",
    )
    types = _event_types(command.event_types)
    description = clean_description(command.description)
    url = await rules.checked_url(command.url)
    await centers.lock_business_center(session, command.center_id)
    if await repo.count_of_center(session, command.center_id) >= MAX_ENDPOINTS:
        raise InvalidInput(
            f"a business center has at most {MAX_ENDPOINTS} webhook endpoints: delete one first",
            CENTER_FIELD,
        )
    secret = generate_secret()
    row = await repo.insert_endpoint(
        session,
        business_center_id=command.center_id,
        url=url,
        description=description,
        event_types=list(types),
        status=ENABLED,
        secret=secret,
        cursor=await repo.last_sequence(session, command.center_id),
        created_by_user_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    return EndpointOutcome(row, secret)


async def update_endpoint(
    session: AsyncSession, actor: Actor, change: EndpointChange, rules: TargetRules, now: datetime
) -> EndpointOutcome:
    """Every given field checked before anything changes. Disabled by a member: its
    reason says so. Enabled again: it receives events from the center's current last
    sequence on (what happened meanwhile is replayed on request), and its messages still
    pending are tried at the next pass."""
    await _managed(session, actor, change.endpoint_id)
    if change.status not in (None, ENABLED, DISABLED):
        raise InvalidInput(f"unknown status {change.status!r}", ("input", "status"))
    types = None if change.event_types is None else _event_types(change.event_types)
    description = clean_description(change.description) if change.description_given else None
    url = None if change.url is None else await rules.checked_url(change.url)
    row = await _locked(session, change.endpoint_id)
    if url is not None:
        row.url = url
    if types is not None:
        row.event_types = list(types)
    if change.description_given:
        row.description = description
    if change.status is not None and change.status != row.status:
        await _set_status(session, row, change.status, now)
    row.updated_at = now
    await session.flush()
    return EndpointOutcome(row)


async def _set_status(
    session: AsyncSession, row: WebhookEndpoint, status: str, now: datetime
) -> None:
    row.status = status
    if status == DISABLED:
        row.disabled_reason = DISABLED_BY_MEMBER
        return
    row.disabled_reason = None
    row.failing_since = None
    row.cursor = await repo.last_sequence(session, row.business_center_id)
    await repo.pending_due_now(session, row.id, now)


async def delete_endpoint(session: AsyncSession, actor: Actor, endpoint_id: int) -> EndpointOutcome:
    """Gone with its messages and delivery log; the answer shows it as it was."""
    await _managed(session, actor, endpoint_id)
    row = await _locked(session, endpoint_id)
    await repo.delete_endpoint(session, endpoint_id)
    return EndpointOutcome(row)  # its attributes stay loaded: the answer shows them


async def rotate_secret(
    session: AsyncSession, actor: Actor, endpoint_id: int, now: datetime
) -> EndpointOutcome:
    """A new secret, shown once; the one it replaces keeps signing for 24 hours
    (domain.webhooks.signing_secrets), so the partner deploys the new one unhurried."""
    await _managed(session, actor, endpoint_id)
    row = await _locked(session, endpoint_id)
    secret = generate_secret()
    row.previous_secret, row.secret, row.rotated_at = row.secret, secret, now
    row.updated_at = now
    await session.flush()
    return EndpointOutcome(row, secret)


# -- sending by hand ----------------------------------------------------------------------


async def send_test_event(
    session: AsyncSession, actor: Actor, endpoint_id: int, now: datetime
) -> EndpointOutcome:
    """A `test.ping` event of the center, about this endpoint: the delivery job sends it
    to this endpoint only. It is in the feed like any event."""
    await _managed(session, actor, endpoint_id)
    row = await _locked(session, endpoint_id)
    _require_enabled(row, "send it a test event")
    data = {"endpoint": webhook_data.endpoint(row), "message": TEST_MESSAGE}
    await event_log.record(
        session,
        row.business_center_id,
        EventType.TEST_PING,
        repo.SUBJECT_TYPE,
        row.id,
        data,
        now,
    )
    return EndpointOutcome(row)


async def redeliver_event(
    session: AsyncSession, actor: Actor, endpoint_id: int, event_id: int, now: datetime
) -> EndpointOutcome:
    """The event queued again for the endpoint, due now, however its earlier attempts
    went; it must be a numbered event of the endpoint's center."""
    await _managed(session, actor, endpoint_id)
    row = await _locked(session, endpoint_id)
    _require_enabled(row, "redeliver to it")
    event = await repo.numbered_event(session, event_id)
    if event is None or event.business_center_id != row.business_center_id:
        raise not_found("event", EVENT_FIELD)
    await repo.queue_event(session, row.id, event, now)
    return EndpointOutcome(row)


async def replay_events(
    session: AsyncSession, actor: Actor, endpoint_id: int, after: int | None, now: datetime
) -> ReplayOutcome:
    """Up to REPLAY_BATCH of the center's events after the feed cursor `after` (None: from
    the first) that the endpoint takes, queued in sequence order as `redeliver_event`
    queues one; the caller goes on from the last one while there are more."""
    await _managed(session, actor, endpoint_id)
    row = await _locked(session, endpoint_id)
    _require_enabled(row, "replay events to it")
    replayed = await repo.replay(session, row, after=after or 0, limit=REPLAY_BATCH, now=now)
    return ReplayOutcome(row, replayed)


# -- shared ---------------------------------------------------------------------------------


def _event_types(names: Sequence[str] | None) -> tuple[str, ...]:
    """The published types named, each once; none named: every type (stored empty)."""
    if not names:
        return ()
    return check_event_types(names, _KNOWN_TYPES) or ()


async def _managed(session: AsyncSession, actor: Actor, endpoint_id: int) -> None:
    """NOT_FOUND unless the caller is a member of the endpoint's center (or staff),
    FORBIDDEN unless their role manages webhooks: as for any other center's object."""
    found = await repo.endpoints_by_ids(session, [endpoint_id])
    if not found:
        raise not_found("webhook endpoint", ENDPOINT_FIELD)
    await access.require(
        session,
        actor,
        found[0].business_center_id,
        Permission.MANAGE_WEBHOOKS,
        field=ENDPOINT_FIELD,
        what="webhook endpoint",
    )


async def _locked(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    row = await repo.lock_endpoint(session, endpoint_id)
    if row is None:  # deleted since it was read
        raise not_found("webhook endpoint", ENDPOINT_FIELD)
    return row


def _require_enabled(row: WebhookEndpoint, what: str) -> None:
    if row.status != ENABLED:
        raise InvalidInput(
            f"the webhook endpoint is disabled: enable it (updateWebhookEndpoint) to {what}",
            ENDPOINT_FIELD,
        )
