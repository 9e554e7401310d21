"""Refund requests and the provider refunds made for them, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from adledger.domain import refunds
from adledger.schema.ids import to_cursor, to_global_id
from adledger.schema.money import Money
from adledger.schema.node import Node
from adledger.schema.pages import PageArgs, PageInfo

RefundRequestStatus = strawberry.enum(
    refunds.RefundRequestStatus,
    name="RefundRequestStatus",
    description=(
        "REQUESTED: out of cash, waiting for the billing department. SENT: approved, the "
        "refunds are made at the provider. SUCCEEDED: all gone back to the payments. "
        "FAILED / PARTLY_FAILED: what failed is back in cash. DECLINED: back in cash."
    ),
)
RefundStatus = strawberry.enum(refunds.RefundStatus, name="RefundStatus")


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
    reason: str = strawberry.field(
        description=(
            "CREDIT_BALANCE (unused balance asked back), REJECTED_CAMPAIGN, CANCELLATION (a "
            "canceled GUARANTEED campaign resolved by billing) or INACTIVITY (plan periods)."
        )
    )
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
            reason=row.reason,
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


@strawberry.type(description="Something done to the business center's money: who, when, what.")
class AuditEvent:
    actor_user_id: strawberry.Private[int | None]
    action: str = strawberry.field(
        description=(
            "REFUND_REQUESTED, REFUND_APPROVED, REFUND_DECLINED, REFUND_SUCCEEDED, "
            "REFUND_FAILED, REJECTED_CAMPAIGN_REFUNDED, CANCELLATION_REQUESTED, "
            "CANCELLATION_RESOLVED_CREDIT, CANCELLATION_RESOLVED_REFUND, CANCELLATION_REFUNDED, "
            "INVOICE_VOIDED, INVOICE_DISCOUNTED"
        )
    )
    subject: str
    at: datetime
    amount: Money | None
    detail: str | None

    @classmethod
    def from_row(cls, row: Any) -> AuditEvent:
        amount = None if row.amount is None else Money.of(row.amount, row.currency)
        return cls(
            actor_user_id=row.actor_user_id,
            action=row.action,
            subject=row.subject,
            at=row.at,
            amount=amount,
            detail=row.detail,
        )

    @strawberry.field(description="Who did it; null when the platform did (a provider event).")
    async def actor_email(self, info: Info) -> str | None:
        if self.actor_user_id is None:
            return None
        return await info.context.loaders.user_email.load(self.actor_user_id)


@strawberry.type
class AuditEventEdge:
    cursor: str
    node: AuditEvent


@strawberry.type
class AuditEventConnection:
    edges: list[AuditEventEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, args: PageArgs, rows: list[Any]) -> AuditEventConnection:
        shown = rows[: args.first]
        edges = [AuditEventEdge(cursor=to_cursor(r.id), node=AuditEvent.from_row(r)) for r in shown]
        return cls(edges=edges, page_info=args.page_info([r.id for r in shown], len(rows)))
