"""Partner events in the API (contract section "partner events"): `Event` and the feed's
connection. Read by ADMIN and the finance roles (READ_MONEY) and staff."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from adledger.schema.ids import to_cursor, to_global_id
from adledger.schema.node import Node
from adledger.schema.pages import PageArgs, PageInfo

if TYPE_CHECKING:
    from adledger.schema.types import BusinessCenter


@strawberry.type(
    description="Something that happened to a business center's money, as partners receive it."
)
class Event(Node):
    center_id: strawberry.Private[int]
    type: str = strawberry.field(
        description=(
            'Dotted name, e.g. "invoice.paid", "campaign.stopped", "credit.issued", "balance.low".'
        )
    )
    sequence: int = strawberry.field(
        description="Strictly increasing per business center, without gaps."
    )
    created_at: datetime
    data: str = strawberry.field(
        description="The object the event is about, as this API showed it then, as JSON text."
    )

    @classmethod
    def from_row(cls, row: Any) -> Event:
        return cls(
            id=strawberry.ID(to_global_id("Event", row.id)),
            center_id=row.business_center_id,
            type=row.type,
            sequence=row.sequence,
            created_at=row.created_at,
            data=json.dumps(row.data, separators=(",", ":"), ensure_ascii=False),
        )

    @strawberry.field
    async def business_center(
        self, info: Info
    ) -> Annotated[BusinessCenter, strawberry.lazy("adledger.schema.types")]:
        from adledger.schema.types import BusinessCenter

        return BusinessCenter.from_row(await info.context.loaders.center.load(self.center_id))


@strawberry.type
class EventEdge:
    cursor: str
    node: Event


@strawberry.type
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, args: PageArgs, rows: list[Any]) -> EventConnection:
        """The cursor is the event's sequence: a partner resumes after the last it read."""
        shown = rows[: args.first]
        edges = [EventEdge(cursor=to_cursor(r.sequence), node=Event.from_row(r)) for r in shown]
        return cls(edges=edges, page_info=args.page_info([r.sequence for r in shown], len(rows)))
