"""Top-ups and plan subscriptions: a write, then the provider call after its commit (an
outbox effect the service declares; `ctx.write` runs it and keeps how it went)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.domain.billing import Plan
from adledger.domain.errors import DomainError, PaymentProviderFailed
from adledger.resolvers.mutation import decode_id, money_in, user_error
from adledger.schema import inputs, results
from adledger.schema.billing import Invoice, TopUp
from adledger.schema.types import BusinessCenter
from adledger.services import access, effect_kinds, subscriptions, top_ups

CENTER_FIELD = ("input", "businessCenterId")


async def top_up_wallet(info: Info, input: inputs.TopUpWalletInput) -> results.TopUpWalletResult:
    ctx = info.context
    actor = await ctx.require_actor()
    outcome: top_ups.TopUpOutcome | None = None
    try:
        access.refuse_integration(actor)  # before any id is looked up
        request = top_ups.TopUpRequest(
            wallet_id=decode_id(input.wallet_id, "Wallet", ("input", "walletId")),
            amount=money_in(input.amount),
            target_balance=money_in(input.target_balance),
            idempotency_key=input.idempotency_key,
        )

        async def run(session: AsyncSession) -> top_ups.TopUpOutcome:
            return await top_ups.request_top_up(
                session, actor, request, ctx.state.billing, ctx.state.now()
            )

        outcome = await ctx.write(run)  # and issues the invoice at the provider
        ctx.effect(effect_kinds.issue_invoice_key(outcome.invoice_id)).result()
    except PaymentProviderFailed as err:
        await _undo_unless_retryable(ctx, outcome, input.idempotency_key)
        return user_error(err, results.TopUpWalletResult)
    except DomainError as err:
        return user_error(err, results.TopUpWalletResult)
    ctx.publish_wallets([outcome.wallet_id])
    return results.TopUpWalletSuccess(
        top_up=TopUp.from_row(await ctx.loaders.top_up.load(outcome.top_up_id))
    )


async def _undo_unless_retryable(
    ctx: Any, outcome: top_ups.TopUpOutcome | None, key: str | None
) -> None:
    """With an idempotency key the caller's retry completes the top-up; without one
    nobody could, so it is taken back and nothing half-made stays."""
    if outcome is not None and key is None:
        now = ctx.state.now()
        await ctx.write(lambda session: top_ups.cancel_unissued(session, outcome, now))


async def subscribe_to_plan(
    info: Info, input: inputs.SubscribeToPlanInput
) -> results.SubscribeToPlanResult:
    ctx = info.context
    actor = await ctx.require_actor()
    from_balance = input.pay_from_credit_balance is not False
    try:
        access.refuse_integration(actor)  # before any id is looked up
        center_id = decode_id(input.business_center_id, "BusinessCenter", CENTER_FIELD)

        async def run(session: AsyncSession) -> subscriptions.SubscribeOutcome:
            return await subscriptions.subscribe(
                session,
                actor,
                center_id,
                Plan(input.plan.value),
                from_balance,
                ctx.state.billing,
                ctx.state.now(),
                input.idempotency_key,
            )

        outcome = await ctx.write(run)  # and issues an invoice not paid from the balance
        ctx.effect(effect_kinds.issue_invoice_key(outcome.invoice_id)).result()
    except DomainError as err:
        return user_error(err, results.SubscribeToPlanResult)
    center = BusinessCenter.from_row(await ctx.loaders.center.load(outcome.business_center_id))
    invoice = Invoice.from_row(await ctx.loaders.invoice.load(outcome.invoice_id))
    return results.SubscribeToPlanSuccess(business_center=center, invoice=invoice)


async def cancel_plan_subscription(
    info: Info, input: inputs.CancelPlanSubscriptionInput
) -> results.CancelPlanSubscriptionResult:
    ctx = info.context
    actor = await ctx.require_actor()
    try:
        access.refuse_integration(actor)  # before any id is looked up
        center_id = decode_id(input.business_center_id, "BusinessCenter", CENTER_FIELD)
        now = ctx.state.now()
        await ctx.write(lambda s: subscriptions.cancel(s, actor, center_id, now))
    except DomainError as err:
        return user_error(err, results.CancelPlanSubscriptionResult)
    center = BusinessCenter.from_row(await ctx.loaders.center.load(center_id))
    return results.CancelPlanSubscriptionSuccess(business_center=center)
