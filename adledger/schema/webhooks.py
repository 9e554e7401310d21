"""Partner webhook endpoints in the API (contract section "partner events"): the endpoint,
never its secret (shown once, by the mutation that makes it), and its delivery log.
Read by ADMIN and the finance roles (READ_MONEY) and staff; managed by ADMIN and
FINANCE_MANAGER (resolvers/webhooks.py)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from adledger.domain.access import Permission
from adledger.schema.events import Event
from adledger.schema.ids import to_cursor, to_global_id
from adledger.schema.node import Node
from adledger.schema.pages import PageArgs, PageInfo
from adledger.schema.readable import needs


@strawberry.enum
class WebhookEndpointStatus(enum.Enum):
    ENABLED = "ENABLED"
    DISABLED = strawberry.enum_value(
        "DISABLED",
        description="Disabled by a member, or by the platform after 3 days of failed deliveries.",
    )


@strawberry.type(
    description=(
        "One try at delivering an event to an endpoint: when, what it answered, how long it "
        "took, and when the next try is due."
    )
)
class WebhookDelivery:
    id: strawberry.ID
    event: Event
    attempt: int
    attempted_at: datetime
    response_status: int | None = strawberry.field(
        description="The status code the endpoint answered; null when it did not answer."
    )
    duration_ms: int | None
    succeeded: bool
    next_attempt_at: datetime | None = strawberry.field(
        description="When it will be tried again; null when it succeeded or was given up."
    )
    response_body: str | None = strawberry.field(
        description="The first 1 KB of what the endpoint answered; null when it did not answer."
    )
    error: str | None = strawberry.field(
        description="Why the attempt failed without an answer (timeout, refused address...)."
    )

    @classmethod
    def from_rows(cls, attempt: Any, event: Any) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(to_global_id("WebhookDelivery", attempt.id)),
            event=Event.from_row(event),
            attempt=attempt.attempt,
            attempted_at=attempt.attempted_at,
            response_status=attempt.response_status,
            duration_ms=attempt.duration_ms,
            succeeded=attempt.succeeded,
            next_attempt_at=attempt.next_attempt_at,
            response_body=attempt.response_body,
            error=attempt.error,
        )


@strawberry.type
class WebhookDeliveryEdge:
    cursor: str
    node: WebhookDelivery


@strawberry.type
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, args: PageArgs, rows: list[tuple[Any, Any]]) -> WebhookDeliveryConnection:
        """Newest first; the cursor is the attempt's id."""
        shown = rows[: args.first]
        edges = [
            WebhookDeliveryEdge(cursor=to_cursor(a.id), node=WebhookDelivery.from_rows(a, e))
            for a, e in shown
        ]
        return cls(edges=edges, page_info=args.page_info([a.id for a, _ in shown], len(rows)))


@strawberry.type(description="Where a business center's events are posted, signed.")
class WebhookEndpoint(Node):
    db_id: strawberry.Private[int]
    center_id: strawberry.Private[int]
    url: str
    description: str | None
    event_types: list[str] = strawberry.field(
        description="The event types sent to it; empty: every type."
    )
    status: WebhookEndpointStatus
    disabled_reason: str | None = strawberry.field(
        description=(
            'Why it is disabled ("disabled by a member", or the platform\'s reason after 3 '
            "days of failed deliveries); null while enabled."
        )
    )
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(to_global_id("WebhookEndpoint", row.id)),
            db_id=row.id,
            center_id=row.business_center_id,
            url=row.url,
            description=row.description,
            event_types=list(row.event_types),
            status=WebhookEndpointStatus(row.status),
            disabled_reason=row.disabled_reason,
            created_at=row.created_at,
        )

    @strawberry.field(description="Delivery attempts, newest first.")
    @needs(Permission.READ_MONEY)
    async def deliveries(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> WebhookDeliveryConnection:
        await info.context.authorize(self.center_id, Permission.READ_MONEY)
        args = PageArgs.parse(first, after)
        rows = await info.context.loaders.webhook_delivery_page.load((self.db_id, args))
        return WebhookDeliveryConnection.build(args, rows)
