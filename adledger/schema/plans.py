"""Cancellation requests of GUARANTEED campaigns paid by card, as the API shows them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from adledger.schema.ids import to_cursor, to_global_id
from adledger.schema.money import Money
from adledger.schema.node import Node
from adledger.schema.pages import PageArgs, PageInfo

if TYPE_CHECKING:
    from adledger.schema.campaigns import Campaign


@strawberry.enum
class CancellationRequestStatus(enum.Enum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"


@strawberry.enum(
    description=(
        "CREDIT: the unspent rest of the payments back to the balance. REFUND: on from "
        "there to the card payments of the campaign (one provider refund per payment)."
    )
)
class CancellationResolution(enum.Enum):
    CREDIT = "CREDIT"
    REFUND = "REFUND"


@strawberry.type(
    description=(
        "A GUARANTEED campaign paid by card, canceled by its customer: it stopped "
        "delivering, and the billing department decides what happens to the unspent rest."
    )
)
class CancellationRequest(Node):
    campaign_id: strawberry.Private[int]
    status: CancellationRequestStatus
    requested_at: datetime
    resolution: CancellationResolution | None
    amount: Money | None = strawberry.field(description="What the resolution credited.")
    note: str | None
    resolved_at: datetime | None

    @classmethod
    def from_row(cls, row: Any, currency: str) -> CancellationRequest:
        return cls(
            id=strawberry.ID(to_global_id("CancellationRequest", row.id)),
            campaign_id=row.campaign_id,
            status=CancellationRequestStatus(row.status),
            requested_at=row.requested_at,
            resolution=None if row.resolution is None else CancellationResolution(row.resolution),
            amount=None if row.amount is None else Money.of(row.amount, currency),
            note=row.note,
            resolved_at=row.resolved_at,
        )

    @strawberry.field
    async def campaign(
        self, info: Info
    ) -> Annotated[Campaign, strawberry.lazy("adledger.schema.campaigns")]:
        from adledger.schema.campaigns import Campaign

        return Campaign.from_row(await info.context.loaders.campaign.load(self.campaign_id))


@strawberry.type
class CancellationRequestEdge:
    cursor: str
    node: CancellationRequest


@strawberry.type
class CancellationRequestConnection:
    edges: list[CancellationRequestEdge]
    page_info: PageInfo

    @classmethod
    def build(
        cls, args: PageArgs, rows: list[Any], currency_of: dict[int, str]
    ) -> CancellationRequestConnection:
        shown = rows[: args.first]
        edges = [
            CancellationRequestEdge(
                cursor=to_cursor(r.id),
                node=CancellationRequest.from_row(r, currency_of[r.campaign_id]),
            )
            for r in shown
        ]
        return cls(edges=edges, page_info=args.page_info([r.id for r in shown], len(rows)))
