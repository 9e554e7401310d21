"""Partner webhook endpoints' mutations (issue 26): ADMIN and FINANCE_MANAGER of the
endpoint's center; a caller of another center is told NOT_FOUND, a member whose role
does not manage webhooks FORBIDDEN (services/access.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info
from strawberry.types.unset import UNSET

from adledger.domain.errors import InvalidInput
from adledger.resolvers.mutation import decode_id, mutate
from adledger.schema import inputs, results
from adledger.schema.ids import from_cursor, to_cursor
from adledger.schema.webhooks import WebhookEndpoint
from adledger.services import webhook_endpoints as service
from adledger.services.actor import Actor

Outcome = service.EndpointOutcome


def _endpoint_id(global_id: str) -> int:
    return decode_id(global_id, "WebhookEndpoint", service.ENDPOINT_FIELD)


async def _endpoint_success(outcome: Outcome) -> results.WebhookEndpointSuccess:
    return results.WebhookEndpointSuccess(endpoint=WebhookEndpoint.from_row(outcome.endpoint))


async def _on_endpoint(
    info: Info,
    global_id: str,
    run: Callable[[AsyncSession, Actor, int], Awaitable[Outcome]],
) -> Any:
    """One of the mutations that act on an endpoint and answer it (WebhookEndpointResult)."""

    async def on(session: AsyncSession, actor: Actor) -> Outcome:
        return await run(session, actor, _endpoint_id(global_id))

    return await mutate(info, results.WebhookEndpointResult, on, _endpoint_success)


async def create_webhook_endpoint(
    info: Info, input: inputs.CreateWebhookEndpointInput
) -> results.CreateWebhookEndpointResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> Outcome:
        command = service.NewEndpoint(
            center_id=decode_id(input.business_center_id, "BusinessCenter", service.CENTER_FIELD),
            url=input.url,
            event_types=input.event_types,
            description=input.description,
        )
        return await service.create_endpoint(
            session, actor, command, ctx.state.webhook_targets, ctx.state.now()
        )

    async def render(outcome: Outcome) -> Any:
        return results.CreateWebhookEndpointSuccess(
            endpoint=WebhookEndpoint.from_row(outcome.endpoint), secret=outcome.secret or ""
        )

    return await mutate(info, results.CreateWebhookEndpointResult, run, render)


async def update_webhook_endpoint(
    info: Info, input: inputs.UpdateWebhookEndpointInput
) -> results.WebhookEndpointResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor, endpoint_id: int) -> Outcome:
        change = service.EndpointChange(
            endpoint_id=endpoint_id,
            url=input.url,
            event_types=input.event_types,
            description=None if input.description is UNSET else input.description,
            description_given=input.description is not UNSET,
            status=None if input.status is None else input.status.value,
        )
        return await service.update_endpoint(
            session, actor, change, ctx.state.webhook_targets, ctx.state.now()
        )

    return await _on_endpoint(info, input.endpoint_id, run)


async def delete_webhook_endpoint(
    info: Info, input: inputs.WebhookEndpointInput
) -> results.WebhookEndpointResult:
    return await _on_endpoint(info, input.endpoint_id, service.delete_endpoint)


async def rotate_webhook_secret(
    info: Info, input: inputs.WebhookEndpointInput
) -> results.RotateWebhookSecretResult:
    now = info.context.state.now()

    async def run(session: AsyncSession, actor: Actor) -> Outcome:
        return await service.rotate_secret(session, actor, _endpoint_id(input.endpoint_id), now)

    async def render(outcome: Outcome) -> Any:
        return results.RotateWebhookSecretSuccess(
            endpoint=WebhookEndpoint.from_row(outcome.endpoint), secret=outcome.secret or ""
        )

    return await mutate(info, results.RotateWebhookSecretResult, run, render)


async def send_test_webhook_event(
    info: Info, input: inputs.WebhookEndpointInput
) -> results.WebhookEndpointResult:
    now = info.context.state.now()

    async def run(session: AsyncSession, actor: Actor, endpoint_id: int) -> Outcome:
        return await service.send_test_event(session, actor, endpoint_id, now)

    return await _on_endpoint(info, input.endpoint_id, run)


async def redeliver_webhook_event(
    info: Info, input: inputs.RedeliverWebhookEventInput
) -> results.WebhookEndpointResult:
    now = info.context.state.now()

    async def run(session: AsyncSession, actor: Actor, endpoint_id: int) -> Outcome:
        event_id = decode_id(input.event_id, "Event", service.EVENT_FIELD)
        return await service.redeliver_event(session, actor, endpoint_id, event_id, now)

    return await _on_endpoint(info, input.endpoint_id, run)


async def replay_webhook_events(
    info: Info, input: inputs.ReplayWebhookEventsInput
) -> results.ReplayWebhookEventsResult:
    now = info.context.state.now()

    async def run(session: AsyncSession, actor: Actor) -> service.ReplayOutcome:
        endpoint_id = _endpoint_id(input.endpoint_id)
        return await service.replay_events(session, actor, endpoint_id, _after(input.after), now)

    async def render(outcome: service.ReplayOutcome) -> Any:
        replayed = outcome.replayed
        last = replayed.last_sequence
        return results.ReplayWebhookEventsSuccess(
            endpoint=WebhookEndpoint.from_row(outcome.endpoint),
            queued=replayed.queued,
            end_cursor=None if last is None else to_cursor(last),
            has_more=replayed.has_more,
        )

    return await mutate(info, results.ReplayWebhookEventsResult, run, render)


def _after(cursor: str | None) -> int | None:
    """A cursor of the feed (an event's sequence)."""
    try:
        return from_cursor(cursor)
    except ValueError:
        raise InvalidInput(
            "`after` is not a cursor of the events feed", ("input", "after")
        ) from None
