"""Refund requests and the provider refunds made for them, as the API shows them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from adledger.schema.ids import to_cursor, to_global_id
from adledger.schema.money import Money
from adledger.schema.node import Node
from adledger.schema.pages import PageArgs, PageInfo


@strawberry.enum(
    description=(
        "REQUESTED: out of cash, waiting for the billing department. SENT: approved, the "
        "refunds are made at the provider. SUCCEEDED: all gone back to the payments. "
        "FAILED / PARTLY_FAILED: what failed is back in cash. DECLINED: back in cash."
    )
)
class RefundRequestStatus(enum.Enum):
    REQUESTED = "REQUESTED"
    SENT = "SENT"
    SUCCEEDED = "SUCCEEDED"
    PARTLY_FAILED = "PARTLY_FAILED"
    FAILED = "FAILED"
    DECLINED = "DECLINED"


@strawberry.enum
class RefundStatus(enum.Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@strawberry.type(description="One provider refund: the part of a request one payment gets back.")
class Refund:
    amount: Money
    status: RefundStatus
    provider_reference: str | None
    failure: str | None
    settled_at: datetime | None


@strawberry.type
class RefundRequest(Node):
    db_id: strawberry.Private[int]
    wallet_id: strawberry.Private[int]
    currency: strawberry.Private[str]
    status: RefundRequestStatus
    amount: Money
    requested_at: datetime
    decided_at: datetime | None
    note: str | None = strawberry.field(description="Why it was declined.")

    @classmethod
    def from_row(cls, row: Any) -> RefundRequest:
        return cls(
            id=strawberry.ID(to_global_id("RefundRequest", row.id)),
            db_id=row.id,
            wallet_id=row.wallet_id,
            currency=row.currency,
            status=RefundRequestStatus(row.status),
            amount=Money.of(row.amount, row.currency),
            requested_at=row.requested_at,
            decided_at=row.decided_at,
            note=row.note,
        )

    @strawberry.field(description="One per payment it goes back to, newest payment first.")
    async def refunds(self, info: Info) -> list[Refund]:
        rows = await info.context.loaders.refunds_of_request.load(self.db_id)
        return [
            Refund(
                amount=Money.of(r.amount, self.currency),
                status=RefundStatus(r.status),
                provider_reference=r.provider_reference,
                failure=r.failure,
                settled_at=r.settled_at,
            )
            for r in rows
        ]


@strawberry.type
class RefundRequestEdge:
    cursor: str
    node: RefundRequest


@strawberry.type
class RefundRequestConnection:
    edges: list[RefundRequestEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, args: PageArgs, rows: list[Any]) -> RefundRequestConnection:
        shown = rows[: args.first]
        edges = [
            RefundRequestEdge(cursor=to_cursor(r.id), node=RefundRequest.from_row(r)) for r in shown
        ]
        return cls(edges=edges, page_info=args.page_info([r.id for r in shown], len(rows)))
