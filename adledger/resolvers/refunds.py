"""Refunds: the customer asks for unused credit balance back, the billing department
approves (the provider refunds are made after the commit) or declines."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.domain.errors import InvariantBroken
from adledger.resolvers.mutation import decode_id, money_in, mutate, staff_queue
from adledger.schema import inputs, results
from adledger.schema.refunds import RefundRequest, RefundRequestConnection, RefundRequestStatus
from adledger.services import inactivity
from adledger.services import refunds as service
from adledger.services.actor import Actor
from adledger.store import refunds as store

REQUEST_FIELD = ("input", "refundRequestId")


async def request_refund(
    info: Info, input: inputs.RequestRefundInput
) -> results.RequestRefundResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.RefundOutcome:
        wallet_id = decode_id(input.wallet_id, "Wallet", ("input", "walletId"))
        amount = money_in(input.amount)
        if amount is None:
            raise InvariantBroken("amount is not None (the schema makes it non-null)")
        return await service.request_refund(
            session, actor, wallet_id, amount, ctx.state.now(), input.idempotency_key
        )

    async def render(outcome: service.RefundOutcome) -> Any:
        return results.RequestRefundSuccess(refund_request=await _request(info, outcome))

    return await mutate(info, results.RequestRefundResult, run, render, lambda o: [o.wallet_id])


async def refund_rejected_campaign(
    info: Info, input: inputs.RefundRejectedCampaignInput
) -> results.RequestRefundResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.RefundOutcome:
        campaign_id = decode_id(input.campaign_id, "Campaign", ("input", "campaignId"))
        return await service.refund_rejected_campaign(
            session, actor, campaign_id, ctx.state.now(), input.idempotency_key
        )

    async def render(outcome: service.RefundOutcome) -> Any:
        return results.RequestRefundSuccess(refund_request=await _request(info, outcome))

    return await mutate(info, results.RequestRefundResult, run, render, lambda o: [o.wallet_id])


async def request_inactivity_refund(
    info: Info, input: inputs.RequestInactivityRefundInput
) -> results.RequestRefundResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.RefundOutcome:
        center_id = decode_id(
            input.business_center_id, "BusinessCenter", ("input", "businessCenterId")
        )
        return await inactivity.request_inactivity_refund(
            session, actor, center_id, ctx.state.now(), input.idempotency_key
        )

    async def render(outcome: service.RefundOutcome) -> Any:
        return results.RequestRefundSuccess(refund_request=await _request(info, outcome))

    return await mutate(info, results.RequestRefundResult, run, render)


async def approve_refund(
    info: Info, input: inputs.ApproveRefundInput
) -> results.RefundDecisionResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.RefundOutcome:
        request_id = decode_id(input.refund_request_id, "RefundRequest", REQUEST_FIELD)
        return await service.approve_refund(
            session, actor, request_id, ctx.state.now(), input.idempotency_key
        )

    async def render(outcome: service.RefundOutcome) -> Any:
        return results.RefundDecisionSuccess(refund_request=await _request(info, outcome))

    return await mutate(info, results.RefundDecisionResult, run, render, lambda o: [o.wallet_id])


async def decline_refund(
    info: Info, input: inputs.DeclineRefundInput
) -> results.RefundDecisionResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.RefundOutcome:
        request_id = decode_id(input.refund_request_id, "RefundRequest", REQUEST_FIELD)
        return await service.decline_refund(
            session, actor, request_id, input.reason, ctx.state.now(), input.idempotency_key
        )

    async def render(outcome: service.RefundOutcome) -> Any:
        return results.RefundDecisionSuccess(refund_request=await _request(info, outcome))

    return await mutate(info, results.RefundDecisionResult, run, render, lambda o: [o.wallet_id])


async def _request(info: Info, outcome: service.RefundOutcome) -> RefundRequest:
    rows = await info.context.read(lambda s: store.requests_by_ids(s, [outcome.request_id]))
    return RefundRequest.from_row(rows[0])


async def refund_requests(
    info: Info,
    status: RefundRequestStatus | None = RefundRequestStatus.REQUESTED,
    first: int | None = 20,
    after: str | None = None,
) -> RefundRequestConnection:
    """Staff only: refund requests, oldest first."""
    wanted = None if status is None else status.value
    args, rows = await staff_queue(info, wanted, first, after, store.request_pages)
    return RefundRequestConnection.build(args, rows)
