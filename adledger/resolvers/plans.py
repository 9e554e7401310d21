"""The billing department's tools for card plans: cancellation requests to resolve, and
installment invoices voided or discounted by hand (platform staff only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.domain.errors import InvariantBroken
from adledger.resolvers.mutation import decode_id, money_in, mutate, staff_queue
from adledger.schema import inputs, results
from adledger.schema.billing import Invoice
from adledger.schema.campaigns import Campaign
from adledger.schema.plans import CancellationRequestConnection, CancellationRequestStatus
from adledger.services import plan_adjustments as service
from adledger.services.actor import Actor
from adledger.store import plan_adjustments as store


async def cancellation_requests(
    info: Info,
    status: CancellationRequestStatus | None = CancellationRequestStatus.OPEN,
    first: int | None = 20,
    after: str | None = None,
) -> CancellationRequestConnection:
    """Staff only: oldest first, so they are worked through in the order they came."""
    wanted = None if status is None else status.value
    args, rows = await staff_queue(info, wanted, first, after, store.requests)
    campaigns = await info.context.loaders.campaign.load_many([r.campaign_id for r in rows])
    currency_of = {c.id: c.currency for c in campaigns}
    return CancellationRequestConnection.build(args, rows, currency_of)


async def resolve_cancellation_request(
    info: Info, input: inputs.ResolveCancellationRequestInput
) -> results.ResolveCancellationRequestResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.RequestOutcome:
        request_id = decode_id(input.request_id, "CancellationRequest", ("input", "requestId"))
        return await service.resolve_cancellation(
            session,
            actor,
            request_id,
            input.note,
            ctx.state.now(),
            input.idempotency_key,
            service.Resolution(input.resolution.value),
        )

    async def render(outcome: service.RequestOutcome) -> Any:
        row = await ctx.loaders.campaign.load(outcome.campaign_id)
        return results.ResolveCancellationRequestSuccess(campaign=Campaign.from_row(row))

    return await mutate(
        info, results.ResolveCancellationRequestResult, run, render, lambda o: [o.wallet_id]
    )


async def void_invoice(info: Info, input: inputs.VoidInvoiceInput) -> results.AdjustInvoiceResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.InvoiceOutcome:
        invoice_id = decode_id(input.invoice_id, "Invoice", ("input", "invoiceId"))
        return await service.void_invoice(
            session, actor, invoice_id, input.reason, ctx.state.now(), input.idempotency_key
        )

    return await mutate(info, results.AdjustInvoiceResult, run, _rendered(info))


async def discount_invoice(
    info: Info, input: inputs.DiscountInvoiceInput
) -> results.AdjustInvoiceResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.InvoiceOutcome:
        invoice_id = decode_id(input.invoice_id, "Invoice", ("input", "invoiceId"))
        amount = money_in(input.amount)
        if amount is None:
            raise InvariantBroken("amount is not None (the schema makes it non-null)")
        return await service.discount_invoice(
            session,
            actor,
            invoice_id,
            amount,
            input.reason,
            ctx.state.now(),
            input.idempotency_key,
        )

    return await mutate(info, results.AdjustInvoiceResult, run, _rendered(info))


def _rendered(info: Info) -> Any:
    async def render(outcome: service.InvoiceOutcome) -> Any:
        row = await info.context.loaders.invoice.load(outcome.invoice_id)
        return results.AdjustInvoiceSuccess(invoice=Invoice.from_row(row))

    return render
