"""Campaigns as the API shows them, their invoices, and what recordSpend reports."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from adledger.domain import campaigns as domain
from adledger.domain.access import Permission
from adledger.domain.budgets import StopReason
from adledger.domain.conservation import paid_and_kept
from adledger.domain.money import Currency
from adledger.schema.billing import Invoice
from adledger.schema.budgets import CampaignStopReason
from adledger.schema.ids import to_cursor, to_global_id
from adledger.schema.money import Money
from adledger.schema.node import Node
from adledger.schema.pages import PageArgs, PageInfo
from adledger.schema.readable import needs

if TYPE_CHECKING:
    from adledger.schema.makegoods import MakegoodOffer, Notification
    from adledger.schema.plans import CancellationRequest
    from adledger.schema.types import AdAccount

CampaignStatus = strawberry.enum(domain.CampaignStatus, name="CampaignStatus")
DeliveryType = strawberry.enum(domain.DeliveryType, name="DeliveryType")
PaymentPlan = strawberry.enum(domain.PaymentPlan, name="PaymentPlan")
RefusedSpendReason = strawberry.enum(
    domain.SpendRefusal,
    name="RefusedSpendReason",
    description=(
        "Checked in this order. IN_THE_FUTURE: occurredAt is later than now beyond the "
        "clock-skew allowance (SPEND_CLOCK_SKEW_SECONDS, 5 minutes). SETTLEMENT_WINDOW_CLOSED: "
        "reported after endsAt plus the settlement window, or once the campaign was settled "
        "(its unspent rest credited, or it was canceled). OUTSIDE_FLIGHT: occurredAt is "
        "before startsAt or after endsAt. CAMPAIGN_NOT_DELIVERING: the campaign was not "
        "delivering at occurredAt (before its launch or its funding, paused, stopped). "
        "OVER_BUDGET: beyond what the campaign's budget (its reserve) leaves. "
        "ACCOUNT_BUDGET_REACHED: beyond what the ad account's budget cap leaves in its period. "
        "INSUFFICIENT_FUNDS: beyond what the campaign may draw (automatic allocation: the "
        "account's cash and vouchers, the business center's cash and credit line). "
        "INVALID_INPUT: occurredAt is no instant (no UTC offset, not representable in UTC, or "
        "outside 1900-2999): see `field` and `message`; that event is not recorded and its "
        "eventId may be sent again."
    ),
)


@strawberry.type
class Campaign(Node):
    db_id: strawberry.Private[int]
    center_id: strawberry.Private[int]
    ad_account_id: strawberry.Private[int]
    shortfall_invoice_id: strawberry.Private[int | None]
    currency: strawberry.Private[str]
    spent_minor: strawberry.Private[int]
    makegood_for_id: strawberry.Private[int | None]
    name: str
    status: CampaignStatus
    delivery_type: DeliveryType
    payment_plan: PaymentPlan
    budget: Money
    spent: Money
    funded: Money = strawberry.field(description="Money paid or reserved for this campaign so far.")
    credited: Money = strawberry.field(
        description="Returned to the wallet: budget reductions, cancellation, unspent budget."
    )
    forfeited: Money = strawberry.field(
        description="An unspent rest at or below the minimum credit, kept by the platform."
    )
    made_good_from_reserve: Money = strawberry.field(
        description=(
            "Accepted makegood credits and refunds given back from the campaign's unspent "
            "budget; its budget was lowered by as much."
        )
    )
    made_good_from_revenue: Money = strawberry.field(
        description=(
            "Accepted makegood credits and refunds that reversed spend billed above the value "
            "of what the campaign delivered (price x delivered / booked)."
        )
    )
    impressions: int = strawberry.field(description="Delivered, as the spend reports count them.")
    booked_impressions: int | None = strawberry.field(
        description="What a GUARANTEED campaign booked; under-delivery is measured against it."
    )
    starts_at: datetime
    ends_at: datetime
    launched_at: datetime | None
    settled_at: datetime | None = strawberry.field(
        description="When the unspent budget was credited (or forfeited); null until then."
    )
    rejection_reason: str | None
    stop_reason_code: CampaignStopReason | None = strawberry.field(
        description="Why the campaign is BUDGET_EXHAUSTED; null otherwise."
    )
    stop_reason: str | None = strawberry.field(
        description='Why the campaign is BUDGET_EXHAUSTED, in words ("business center balance '
        'exhausted"); null otherwise.'
    )
    pause_reason: str | None = strawberry.field(
        description=(
            "Why the platform paused the campaign (its card kept declining an installment); "
            "null when it was not paused, or was paused by its customer."
        )
    )
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Campaign:
        money = lambda minor: Money.of(minor, row.currency)  # noqa: E731
        stopped = row.status == domain.CampaignStatus.BUDGET_EXHAUSTED
        stop = (
            StopReason(row.stop_reason or StopReason.CAMPAIGN_BUDGET_REACHED) if stopped else None
        )
        return cls(
            id=strawberry.ID(to_global_id("Campaign", row.id)),
            db_id=row.id,
            center_id=row.business_center_id,
            ad_account_id=row.ad_account_id,
            shortfall_invoice_id=row.shortfall_invoice_id,
            currency=row.currency,
            spent_minor=row.spent,
            name=row.name,
            status=domain.CampaignStatus(row.status),
            delivery_type=domain.DeliveryType(row.delivery_type),
            payment_plan=domain.PaymentPlan(row.payment_plan),
            budget=money(row.budget),
            spent=money(row.spent),
            funded=money(
                paid_and_kept(row.taken, row.credited, row.forfeited, row.made_good_reserve)
            ),
            credited=money(row.credited),
            forfeited=money(row.forfeited),
            made_good_from_reserve=money(row.made_good_reserve),
            made_good_from_revenue=money(row.made_good_revenue),
            impressions=row.impressions,
            booked_impressions=row.booked_impressions,
            makegood_for_id=row.makegood_for_campaign_id,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            launched_at=row.launched_at,
            settled_at=row.settled_at,
            rejection_reason=row.rejection_reason,
            stop_reason_code=stop,
            stop_reason=stop.text if stop else None,
            pause_reason=row.pause_reason,
            created_at=row.created_at,
        )

    @strawberry.field
    @needs(Permission.READ)
    async def ad_account(
        self, info: Info
    ) -> Annotated[AdAccount, strawberry.lazy("adledger.schema.types")]:
        from adledger.schema.types import AdAccount

        await self._member_or_staff(info)
        return AdAccount.from_row(await info.context.loaders.ad_account.load(self.ad_account_id))

    @strawberry.field(
        description=(
            "The lowest budget that may be set now: the larger of the platform minimum and the "
            "spend to date."
        )
    )
    def minimum_budget(self, info: Info) -> Money:
        platform = info.context.state.billing.minimum_campaign_budget(Currency(self.currency))
        return Money.of(domain.minimum_budget(platform.minor, self.spent_minor), self.currency)

    @strawberry.field(
        description="The open invoice for what the wallet could not cover at launch, if any."
    )
    @needs(Permission.READ)
    async def shortfall_invoice(self, info: Info) -> Invoice | None:
        await self._member_or_staff(info)
        if self.shortfall_invoice_id is None:
            return None
        row = await info.context.loaders.invoice.load(self.shortfall_invoice_id)
        return Invoice.from_row(row) if row is not None and row.status == "OPEN" else None

    @strawberry.field
    @needs(Permission.READ)
    async def invoices(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> InvoiceConnection:
        await self._member_or_staff(info)
        args = PageArgs.parse(first, after)
        rows = await info.context.loaders.campaign_invoice_page.load((self.db_id, args))
        return InvoiceConnection.build(args, rows)

    @strawberry.field(
        description=(
            "For a GUARANTEED campaign paid by card that its customer canceled: the request "
            "the billing department resolves."
        )
    )
    @needs(Permission.READ)
    async def cancellation_request(
        self, info: Info
    ) -> Annotated[CancellationRequest, strawberry.lazy("adledger.schema.plans")] | None:
        from adledger.schema.plans import CancellationRequest

        await self._member_or_staff(info)
        row = await info.context.loaders.cancellation_request.load(self.db_id)
        return None if row is None else CancellationRequest.from_row(row, self.currency)

    @strawberry.field(description="For a makegood flight: the campaign it makes good.")
    @needs(Permission.READ)
    async def makegood_for(self, info: Info) -> Campaign | None:
        if self.makegood_for_id is None:
            return None
        await self._member_or_staff(info)
        return Campaign.from_row(await info.context.loaders.campaign.load(self.makegood_for_id))

    @strawberry.field(description="What the platform told its business center about it.")
    @needs(Permission.READ)
    async def notifications(
        self, info: Info
    ) -> list[Annotated[Notification, strawberry.lazy("adledger.schema.makegoods")]]:
        from adledger.schema.makegoods import Notification

        await self._member_or_staff(info)
        rows = await info.context.loaders.campaign_notifications.load(self.db_id)
        return [Notification.from_row(r) for r in rows]

    @strawberry.field(description="Makegoods staff offered for its missing impressions.")
    @needs(Permission.READ)
    async def makegood_offers(
        self, info: Info
    ) -> list[Annotated[MakegoodOffer, strawberry.lazy("adledger.schema.makegoods")]]:
        from adledger.schema.makegoods import MakegoodOffer

        await self._member_or_staff(info)
        rows = await info.context.loaders.makegood_offers.load(self.db_id)
        return [MakegoodOffer.from_row(r) for r in rows]

    async def _member_or_staff(self, info: Info) -> None:
        """The ad server sees the campaigns its reports stopped, not what they lead to."""
        await info.context.authorize(self.center_id, Permission.READ)


@strawberry.type
class CampaignEdge:
    cursor: str
    node: Campaign


@strawberry.type
class CampaignConnection:
    edges: list[CampaignEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, args: PageArgs, rows: list[Any]) -> CampaignConnection:
        shown = rows[: args.first]
        edges = [CampaignEdge(cursor=to_cursor(r.id), node=Campaign.from_row(r)) for r in shown]
        return cls(edges=edges, page_info=args.page_info([r.id for r in shown], len(rows)))


@strawberry.type
class InvoiceEdge:
    cursor: str
    node: Invoice


@strawberry.type
class InvoiceConnection:
    edges: list[InvoiceEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, args: PageArgs, rows: list[Any]) -> InvoiceConnection:
        shown = rows[: args.first]
        edges = [InvoiceEdge(cursor=to_cursor(r.id), node=Invoice.from_row(r)) for r in shown]
        return cls(edges=edges, page_info=args.page_info([r.id for r in shown], len(rows)))


@strawberry.type(description="The part of a spend event that was not applied, and why.")
class RefusedSpend:
    event_id: str
    amount: Money = strawberry.field(description="What was not applied.")
    reason: RefusedSpendReason
    field: list[str] | None = strawberry.field(
        default=None, description="With INVALID_INPUT: the input at fault."
    )
    message: str | None = strawberry.field(
        default=None, description="With INVALID_INPUT: what is wrong with it."
    )
