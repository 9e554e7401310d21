"""Invoices, top-ups and plan subscriptions as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from adledger.schema.enums import (
    InvoiceKind,
    InvoiceStatus,
    SubscriptionPlan,
    SubscriptionStatus,
    TopUpStatus,
)
from adledger.schema.ids import to_global_id
from adledger.schema.money import Money
from adledger.schema.node import Node

if TYPE_CHECKING:
    from adledger.schema.campaigns import Campaign
    from adledger.schema.types import Wallet


@strawberry.type
class InvoiceLine:
    description: str
    amount: Money


@strawberry.type
class Invoice(Node):
    db_id: strawberry.Private[int]
    center_id: strawberry.Private[int]
    currency: strawberry.Private[str]
    campaign_id: strawberry.Private[int | None]
    number: str
    kind: InvoiceKind
    status: InvoiceStatus
    subtotal: Money = strawberry.field(description="Sum of the lines.")
    discount: Money
    amount_due: Money = strawberry.field(
        description="subtotal minus discount: what the customer pays."
    )
    issue_on: datetime = strawberry.field(
        description="When the invoice is to be issued (SCHEDULED) or was issued."
    )
    due_at: datetime | None
    paid_at: datetime | None
    installment_number: int | None = strawberry.field(
        description="1-based position in the campaign's installment plan, for INSTALLMENT invoices."
    )
    installment_count: int | None
    payment_reference: str | None = strawberry.field(
        description=(
            "The payment provider's id for this invoice (a Stripe invoice id), once issued."
        )
    )
    hosted_url: str | None
    last_payment_error: str | None = strawberry.field(
        description="Why the last charge to the saved card failed, while it is unpaid."
    )
    next_payment_attempt_at: datetime | None = strawberry.field(
        description=(
            "When the saved card is charged again; null once the retries are spent (the "
            "campaign is then paused until the invoice is paid)."
        )
    )

    @classmethod
    def from_row(cls, row: Any) -> Invoice:
        money = lambda minor: Money.of(minor, row.currency)  # noqa: E731
        return cls(
            id=strawberry.ID(to_global_id("Invoice", row.id)),
            db_id=row.id,
            center_id=row.business_center_id,
            currency=row.currency,
            campaign_id=row.campaign_id,
            number=row.number,
            kind=InvoiceKind(row.kind),
            status=InvoiceStatus(row.status),
            subtotal=money(row.subtotal),
            discount=money(row.discount),
            amount_due=money(row.subtotal - row.discount),
            issue_on=row.issue_on,
            due_at=row.due_at,
            paid_at=row.paid_at,
            installment_number=row.installment_number,
            installment_count=row.installment_count,
            payment_reference=row.payment_reference,
            hosted_url=row.hosted_url,
            last_payment_error=row.last_charge_error if row.status == "OPEN" else None,
            next_payment_attempt_at=row.next_charge_at if row.status == "OPEN" else None,
        )

    @strawberry.field
    async def lines(self, info: Info) -> list[InvoiceLine]:
        rows = await info.context.loaders.invoice_lines.load(self.db_id)
        return [
            InvoiceLine(description=text, amount=Money.of(amount, self.currency))
            for text, amount in rows
        ]

    @strawberry.field
    async def campaign(
        self, info: Info
    ) -> Annotated[Campaign, strawberry.lazy("adledger.schema.campaigns")] | None:
        from adledger.schema.campaigns import Campaign

        if self.campaign_id is None:
            return None
        return Campaign.from_row(await info.context.loaders.campaign.load(self.campaign_id))


@strawberry.type
class TopUp(Node):
    db_id: strawberry.Private[int]
    wallet_id: strawberry.Private[int]
    invoice_id: strawberry.Private[int]
    status: TopUpStatus
    target_balance: Money | None = strawberry.field(
        description="The balance asked for, when the top-up was made to a target."
    )
    amount: Money = strawberry.field(
        description=(
            "What the invoice asks the customer to pay, and what is credited once it is paid."
        )
    )
    created_at: datetime
    paid_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> TopUp:
        target = row.target_balance
        return cls(
            id=strawberry.ID(to_global_id("TopUp", row.id)),
            db_id=row.id,
            wallet_id=row.wallet_id,
            invoice_id=row.invoice_id,
            status=TopUpStatus(row.status),
            target_balance=None if target is None else Money.of(target, row.currency),
            amount=Money.of(row.amount, row.currency),
            created_at=row.created_at,
            paid_at=row.paid_at,
        )

    @strawberry.field
    async def wallet(
        self, info: Info
    ) -> Annotated[Wallet, strawberry.lazy("adledger.schema.types")]:
        from adledger.schema.types import Wallet

        return Wallet.from_row(await info.context.loaders.wallet.load(self.wallet_id))

    @strawberry.field
    async def invoice(self, info: Info) -> Invoice:
        return Invoice.from_row(await info.context.loaders.invoice.load(self.invoice_id))


@strawberry.type
class PlanSubscription:
    plan: SubscriptionPlan
    status: SubscriptionStatus
    current_period_start: datetime
    current_period_end: datetime

    @classmethod
    def from_row(cls, row: Any) -> PlanSubscription:
        return cls(
            plan=SubscriptionPlan(row.plan),
            status=SubscriptionStatus(row.status),
            current_period_start=row.current_period_start,
            current_period_end=row.current_period_end,
        )
