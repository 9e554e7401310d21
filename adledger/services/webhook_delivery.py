"""One pass of the webhook delivery job (deliver-webhooks, issue 26): queue each enabled
endpoint's new events, claim its due messages, POST them, record every attempt.

At-least-once: a message is claimed (its lease, its attempt counted) in a transaction
committed before any HTTP, and marked delivered only after a 2xx; a worker that dies in
between leaves the lease to run out, and the next pass sends it again (the partner
dedupes by `webhook-id`, the event's id). Every step is its own short transaction, and no
transaction is open while a POST waits.

Never the platform's weakness: each endpoint is served by its own task, at most
`per_endpoint` of its messages in flight (counted across workers by their leases), all
posts under one global cap, each bounded by webhook_client's timeout; an endpoint stops
claiming after `endpoint_messages` messages or `endpoint_seconds` of wall time, or once a
batch of its messages all failed (the rest wait for the next pass and its backoff).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.errors import InvalidInput
from adledger.domain.events import EventType
from adledger.domain.webhooks import next_attempt_at, payload_text, signing_secrets
from adledger.services import events, notifications, webhook_data
from adledger.services.transact import Transact
from adledger.services.webhook_client import (
    DELIVERY_TIMEOUT_SECONDS,
    MAX_ERROR_LENGTH,
    DeliveryResult,
    post,
)
from adledger.services.webhook_signing import signed_headers
from adledger.services.webhook_targets import Resolver, Target, resolve_and_check, system_resolver
from adledger.store import webhook_deliveries as repo
from adledger.store.models import Event
from adledger.store.webhook_deliveries import Claimed
from adledger.store.webhook_models import WebhookAttempt, WebhookEndpoint

log = logging.getLogger(__name__)

DELIVERED = "DELIVERED"
FAILED = "FAILED"
DISABLED = "DISABLED"
DISABLED_REASON = "failed for 3 days"
NOTIFICATION_KIND = "WEBHOOK_ENDPOINT_DISABLED"


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """The pass's bounds. `allow_private` is WEBHOOK_ALLOW_PRIVATE_TARGETS; the resolver
    and the transport are the tests' to replace."""

    allow_private: bool = False
    timeout_seconds: float = DELIVERY_TIMEOUT_SECONDS
    per_endpoint: int = 4
    in_flight: int = 100
    lease: timedelta = timedelta(seconds=60)
    endpoint_messages: int = 200
    endpoint_seconds: float = 30.0
    fan_out_batch: int = 1000
    endpoints_per_pass: int = 500
    resolver: Resolver = system_resolver
    transport: httpx.AsyncBaseTransport | None = None


@dataclass
class DeliveryReport:
    queued: int = 0
    delivered: int = 0
    failed: int = 0
    disabled: int = 0
    errors: int = 0
    endpoints: set[int] = field(default_factory=set)

    @property
    def did_something(self) -> bool:
        return bool(self.queued or self.delivered or self.failed or self.disabled or self.errors)

    def __str__(self) -> str:
        text = (
            f"queued {self.queued}, delivered {self.delivered}, failed {self.failed}, "
            f"disabled {self.disabled} endpoint{'' if self.disabled == 1 else 's'}"
        )
        if self.endpoints:
            text += f" ({len(self.endpoints)} endpoint{'' if len(self.endpoints) == 1 else 's'})"
        if self.errors:
            text += f"; {self.errors} endpoint(s) stopped on an error (see the log)"
        return text


async def run_pass(transact: Transact, now: datetime, options: DeliveryOptions) -> DeliveryReport:
    """Queue, then deliver what is due at `now`, each endpoint on its own task."""
    report = DeliveryReport()
    report.queued = await fan_out(transact, now, options)
    due = await transact(lambda s: repo.endpoints_due(s, now, options.endpoints_per_pass))
    posts = asyncio.Semaphore(options.in_flight)
    serve = partial(_serve_endpoint, transact, now, options, posts, report)
    await asyncio.gather(*(serve(endpoint_id) for endpoint_id in due))
    return report


# -- 1. fan-out --------------------------------------------------------------------------


async def fan_out(transact: Transact, now: datetime, options: DeliveryOptions) -> int:
    """Each endpoint behind its center's events takes up to `fan_out_batch` of them, in
    its own transaction; answers how many messages were made."""
    behind = await transact(lambda s: repo.endpoints_behind(s, options.endpoints_per_pass))
    queued = 0
    for endpoint_id in behind:
        queued += await transact(partial(_queue, endpoint_id, now, options.fan_out_batch))
    return queued


async def _queue(endpoint_id: int, now: datetime, batch: int, session: AsyncSession) -> int:
    # Skip an endpoint another worker is queueing for (or a mutation holds): next pass.
    endpoint = await repo.lock_endpoint(session, endpoint_id, enabled_only=True, skip_locked=True)
    if endpoint is None:
        return 0
    # The counter first: every event numbered up to it is committed and visible to the
    # INSERT's later snapshot, so the cursor never passes an event not queued.
    last = await repo.last_sequence(session, endpoint.business_center_id)
    upto = min(endpoint.cursor + batch, last)
    if upto <= endpoint.cursor:
        return 0
    return await repo.queue_events(session, endpoint, upto, now)


# -- 2. claims ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Batch:
    """Messages of one endpoint claimed together, with what delivering them needs."""

    endpoint_id: int
    url: str
    secrets: tuple[str, ...]
    messages: tuple[tuple[Claimed, Event], ...]


async def _claim(
    endpoint_id: int, now: datetime, options: DeliveryOptions, room: int, session: AsyncSession
) -> _Batch | None:
    """Up to `room` of the endpoint's due messages, never more in flight than
    `per_endpoint` (the endpoint's row serialises the count); None: nothing to claim."""
    endpoint = await repo.lock_endpoint(session, endpoint_id, enabled_only=True)
    if endpoint is None:
        return None
    free = options.per_endpoint - await repo.leases_held(session, endpoint_id, now)
    if min(free, room) <= 0:
        return None
    claimed = await repo.claim(session, endpoint_id, now, now + options.lease, min(free, room))
    found = await repo.events_of(session, claimed)
    # An event pruned since it was queued can be neither sent nor shown: its message goes.
    await repo.delete_messages(session, [c.id for c in claimed if c.event_id not in found])
    messages = tuple((c, found[c.event_id]) for c in claimed if c.event_id in found)
    if not messages:
        return None
    secrets = signing_secrets(endpoint.secret, endpoint.previous_secret, endpoint.rotated_at, now)
    return _Batch(endpoint_id, endpoint.url, secrets, messages)


# -- 3. delivery -------------------------------------------------------------------------


async def _serve_endpoint(
    transact: Transact,
    now: datetime,
    options: DeliveryOptions,
    posts: asyncio.Semaphore,
    report: DeliveryReport,
    endpoint_id: int,
) -> None:
    """Batches of the endpoint's due messages until none is left, the endpoint's share of
    the pass is spent, or a whole batch failed. Whatever goes wrong stays with this
    endpoint: it is logged, and the others go on."""
    started = time.monotonic()
    sent = 0
    try:
        while sent < options.endpoint_messages:
            if time.monotonic() - started >= options.endpoint_seconds:
                return
            room = min(options.per_endpoint, options.endpoint_messages - sent)
            batch = await transact(partial(_claim, endpoint_id, now, options, room))
            if batch is None:
                return
            report.endpoints.add(endpoint_id)
            sent += len(batch.messages)
            if not await _deliver_batch(transact, now, options, posts, report, batch):
                return
    except Exception:
        report.errors += 1
        log.exception("deliver-webhooks: endpoint %s stopped on an error", endpoint_id)


async def _deliver_batch(
    transact: Transact,
    now: datetime,
    options: DeliveryOptions,
    posts: asyncio.Semaphore,
    report: DeliveryReport,
    batch: _Batch,
) -> bool:
    """Sends the batch's messages at once; True if any was delivered. The address is
    checked again first: a name that resolves to a refused address now fails every
    message of the batch, naming it, without a connection."""
    target = await _target(batch.url, options)
    outcomes = await asyncio.gather(
        *(
            _deliver_one(transact, now, options, posts, batch, target, claimed, event)
            for claimed, event in batch.messages
        ),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            report.errors += 1
            log.error(
                "deliver-webhooks: an attempt at endpoint %s not recorded",
                batch.endpoint_id,
                exc_info=outcome,
            )
            continue
        report.delivered += outcome.delivered
        report.failed += not outcome.ok
        report.disabled += outcome.disabled
    return any(not isinstance(o, BaseException) and o.ok for o in outcomes)


async def _target(url: str, options: DeliveryOptions) -> Target | str:
    """The checked target, or why the URL may not be called now."""
    try:
        return await resolve_and_check(
            url, allow_private=options.allow_private, resolver=options.resolver
        )
    except InvalidInput as refused:
        return str(refused)[:MAX_ERROR_LENGTH]


async def _deliver_one(
    transact: Transact,
    now: datetime,
    options: DeliveryOptions,
    posts: asyncio.Semaphore,
    batch: _Batch,
    target: Target | str,
    claimed: Claimed,
    event: Event,
) -> _Outcome:
    if isinstance(target, str):
        result = DeliveryResult(None, 0, "", target)
    else:
        envelope = webhook_data.envelope(event)
        body = payload_text(envelope).encode()
        headers = signed_headers(str(envelope["id"]), body, batch.secrets)
        async with posts:
            result = await post(
                target,
                body,
                headers,
                timeout_seconds=options.timeout_seconds,
                transport=options.transport,
            )
    return await transact(partial(_record, batch.endpoint_id, claimed, result, now))


# -- 4. the record -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    """`ok`: the endpoint answered 2xx; `delivered`: and that made the message delivered
    (a late 2xx for a message delivered already is not counted twice)."""

    ok: bool
    delivered: bool = False
    disabled: bool = False


async def _record(
    endpoint_id: int,
    claimed: Claimed,
    result: DeliveryResult,
    now: datetime,
    session: AsyncSession,
) -> _Outcome:
    """The attempt, and what it means for its message and its endpoint. An attempt whose
    lease another claim has replaced (it ran past its lease) is recorded, and a 2xx
    still delivers its message; it schedules nothing. A message delivered already stays
    delivered: a late answer never makes a second success."""
    endpoint = await repo.lock_endpoint(session, endpoint_id, enabled_only=False)
    message = None if endpoint is None else await repo.lock_message(session, claimed.id)
    if endpoint is None or message is None:
        return _Outcome(result.ok)  # deleted meanwhile: nothing left to record against
    next_at: datetime | None = None
    delivered = disabled = False
    current = message.status == repo.PENDING and message.attempts == claimed.attempt
    if result.ok:
        endpoint.failing_since = None
        if message.status != DELIVERED:
            message.status, message.leased_until = DELIVERED, None
            delivered = True
    elif current:
        endpoint.failing_since = endpoint.failing_since or now
        next_at = next_attempt_at(message.attempts, endpoint.failing_since, now)
        message.leased_until = None
        if next_at is not None:
            message.next_attempt_at = next_at
        else:
            message.status = FAILED
            disabled = await _disable(session, endpoint, now)
    await repo.insert_attempt(
        session, _attempt(message.id, endpoint, claimed, result, now, next_at)
    )
    return _Outcome(result.ok, delivered, disabled)


def _attempt(
    message_id: int,
    endpoint: WebhookEndpoint,
    claimed: Claimed,
    result: DeliveryResult,
    now: datetime,
    next_at: datetime | None,
) -> WebhookAttempt:
    return WebhookAttempt(
        message_id=message_id,
        endpoint_id=endpoint.id,
        event_id=claimed.event_id,
        event_created_at=claimed.event_created_at,
        attempt=claimed.attempt,
        attempted_at=now,
        response_status=result.status_code,
        duration_ms=result.duration_ms,
        succeeded=result.ok,
        response_body=result.body[:1024] or None,
        error=None if result.error is None else result.error[:MAX_ERROR_LENGTH],
        next_attempt_at=next_at,
    )


async def _disable(session: AsyncSession, endpoint: WebhookEndpoint, now: datetime) -> bool:
    """The endpoint failed for 3 days: disabled, its center told (a notification, and a
    `webhook_endpoint.disabled` event numbered after this transaction's commit). False if
    a mutation disabled it already."""
    if endpoint.status != repo.ENABLED:
        return False
    endpoint.status, endpoint.disabled_reason, endpoint.updated_at = DISABLED, DISABLED_REASON, now
    failing = endpoint.failing_since or now
    message = (
        f"Webhook endpoint {endpoint.url} was disabled: its deliveries have failed since "
        f"{failing.isoformat()} for 3 days. Once it answers again, set its status to ENABLED "
        "(updateWebhookEndpoint)."
    )
    await notifications.notify(
        session, endpoint.business_center_id, NOTIFICATION_KIND, message, now
    )
    await events.record(
        session,
        endpoint.business_center_id,
        EventType.WEBHOOK_ENDPOINT_DISABLED,
        "WebhookEndpoint",
        endpoint.id,
        webhook_data.endpoint(endpoint),
        now,
    )
    log.warning(
        "deliver-webhooks: endpoint %s of center %s disabled (%s)",
        endpoint.id,
        endpoint.business_center_id,
        DISABLED_REASON,
    )
    return True
