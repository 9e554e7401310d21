"""Notifications to a business center and makegood offers, as the API shows them."""

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


@strawberry.type(description="What the platform told a business center.")
class Notification:
    kind: str = strawberry.field(
        description="UNDERDELIVERY_LIKELY, MAKEGOOD_OFFERED, WEBHOOK_ENDPOINT_DISABLED, "
        "BALANCE_LOW or RUNWAY_LOW (a wallet's low-balance alert fired), AUTO_RECHARGE_PAID, "
        "AUTO_RECHARGE_SUSPENDED or AUTO_RECHARGE_CAP_REACHED (its automatic recharge)."
    )
    message: str
    campaign_id: strawberry.ID | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Notification:
        campaign = row.campaign_id
        return cls(
            kind=row.kind,
            message=row.message,
            campaign_id=None
            if campaign is None
            else strawberry.ID(to_global_id("Campaign", campaign)),
            created_at=row.created_at,
        )


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, args: PageArgs, rows: list[Any]) -> NotificationConnection:
        shown = rows[: args.first]
        edges = [
            NotificationEdge(cursor=to_cursor(r.id), node=Notification.from_row(r)) for r in shown
        ]
        return cls(edges=edges, page_info=args.page_info([r.id for r in shown], len(rows)))


@strawberry.enum(
    description=(
        "CREDIT: a MAKEGOOD_CREDIT to the account's balance. REFUND: the same amount on to "
        "the payments that paid for the campaign. FLIGHT: a linked campaign, price 0, for "
        "the missing impressions, on the offer's dates."
    )
)
class MakegoodKind(enum.Enum):
    CREDIT = "CREDIT"
    REFUND = "REFUND"
    FLIGHT = "FLIGHT"


@strawberry.enum
class MakegoodStatus(enum.Enum):
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"


@strawberry.type(description="What staff offer for a GUARANTEED campaign's missing impressions.")
class MakegoodOffer(Node):
    kind: MakegoodKind
    status: MakegoodStatus
    missing_impressions: int
    amount: Money = strawberry.field(
        description=(
            "The under-delivered share (price less price x delivered / booked) less what "
            "earlier makegoods, the cancellation or the credit sweep already gave back; once "
            "accepted, what was paid (at most the offer)."
        )
    )
    note: str | None
    offered_at: datetime
    decided_at: datetime | None
    starts_at: datetime | None = strawberry.field(description="A flight's dates.")
    ends_at: datetime | None
    makegood_campaign_id: strawberry.Private[int | None]

    @strawberry.field(description="The makegood flight, once the customer accepted it.")
    async def makegood_campaign(
        self, info: Info
    ) -> Annotated[Campaign, strawberry.lazy("adledger.schema.campaigns")] | None:
        from adledger.schema.campaigns import Campaign

        if self.makegood_campaign_id is None:
            return None
        return Campaign.from_row(
            await info.context.loaders.campaign.load(self.makegood_campaign_id)
        )

    @classmethod
    def from_row(cls, row: Any) -> MakegoodOffer:
        return cls(
            id=strawberry.ID(to_global_id("MakegoodOffer", row.id)),
            kind=MakegoodKind(row.kind),
            status=MakegoodStatus(row.status),
            missing_impressions=row.missing_impressions,
            amount=Money.of(row.amount, row.currency),
            note=row.note,
            offered_at=row.offered_at,
            decided_at=row.decided_at,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            makegood_campaign_id=row.makegood_campaign_id,
        )
