"""Campaign mutations and recordSpend: parse, run one service in one transaction, map the
result. Provider calls (issuing or voiding a shortfall invoice, charging a card) are
outbox effects the services declare, run after the commit (resolvers/mutation.py
`mutate`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.domain.campaigns import DeliveryType, PaymentPlan
from adledger.domain.errors import InvariantBroken
from adledger.domain.wallets import MoneyIn
from adledger.resolvers.mutation import decode_id, money_in, mutate
from adledger.schema import inputs, results
from adledger.schema.billing import Invoice
from adledger.schema.campaigns import Campaign, RefusedSpend
from adledger.schema.ids import db_id_of
from adledger.schema.money import Money
from adledger.services import campaigns as service
from adledger.services import spend as spend_service
from adledger.services.actor import Actor
from adledger.services.campaigns import CampaignOutcome

CAMPAIGN_FIELD = ("input", "campaignId")


async def _campaign(info: Info, campaign_id: int) -> Campaign:
    return Campaign.from_row(await info.context.loaders.campaign.load(campaign_id))


def _campaign_id(input: Any) -> int:
    return decode_id(input.campaign_id, "Campaign", CAMPAIGN_FIELD)


def _money(given: Any) -> MoneyIn:
    money = money_in(given)
    if money is None:
        raise InvariantBroken("money is not None (non-null in the schema)")
    return money


async def create_campaign(
    info: Info, input: inputs.CreateCampaignInput
) -> results.CreateCampaignResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.Answered:
        new = service.NewCampaign(
            ad_account_id=decode_id(input.ad_account_id, "AdAccount", ("input", "adAccountId")),
            name=input.name,
            budget=_money(input.budget),
            starts_at=input.starts_at,
            ends_at=input.ends_at,
            delivery_type=DeliveryType(input.delivery_type.value)
            if input.delivery_type
            else DeliveryType.IF_AVAILABLE,
            payment_plan=PaymentPlan(input.payment_plan.value) if input.payment_plan else None,
            idempotency_key=input.idempotency_key,
            booked_impressions=input.booked_impressions,
        )
        return await service.create_campaign_answered(
            session, actor, new, ctx.state.billing, ctx.state.now()
        )

    async def render(answered: service.Answered) -> Any:
        campaign = await _answered(info, answered)
        return results.CreateCampaignSuccess(campaign=campaign)

    return await mutate(info, results.CreateCampaignResult, run, render)


async def launch_campaign(
    info: Info, input: inputs.LaunchCampaignInput
) -> results.LaunchCampaignResult:
    """A shortfall invoice the provider cannot take now stays open here and is issued by
    the issue-pending-invoices job: the launch itself is complete either way."""
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.Answered:
        return await service.launch_campaign_answered(
            session,
            actor,
            _campaign_id(input),
            ctx.state.billing,
            ctx.state.now(),
            input.idempotency_key,
        )

    async def render(answered: service.Answered) -> Any:
        outcome = answered.outcome
        invoice = None
        if outcome.shortfall_invoice_id is not None:
            row = await ctx.loaders.invoice.load(outcome.shortfall_invoice_id)
            invoice = Invoice.from_row(row)
        return results.LaunchCampaignSuccess(
            campaign=await _answered(info, answered), shortfall_invoice=invoice
        )

    return await mutate(
        info, results.LaunchCampaignResult, run, render, lambda a: [a.outcome.wallet_id]
    )


async def _answered(info: Info, answered: service.Answered) -> Campaign:
    """The campaign as the mutation's transaction left it, when the service kept it (its
    fields cost no read; the request's loader answers it from then on), else read."""
    campaign_id = answered.outcome.campaign_id
    if answered.row is not None:
        info.context.loaders.campaign.prime(campaign_id, answered.row)
    return await _campaign(info, campaign_id)


async def update_campaign_budget(
    info: Info, input: inputs.UpdateCampaignBudgetInput
) -> results.UpdateCampaignBudgetResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> service.Answered:
        change = service.BudgetChange(
            _campaign_id(input), _money(input.budget), input.idempotency_key
        )
        return await service.update_budget_answered(
            session, actor, change, ctx.state.billing, ctx.state.now()
        )

    async def render(answered: service.Answered) -> Any:
        outcome = answered.outcome
        campaign = await _answered(info, answered)
        return results.UpdateCampaignBudgetSuccess(
            campaign=campaign,
            credited=Money.of(outcome.credited, campaign.currency),
            charged=Money.of(outcome.charged, campaign.currency),
        )

    return await mutate(
        info, results.UpdateCampaignBudgetResult, run, render, lambda a: [a.outcome.wallet_id]
    )


Action = Callable[[AsyncSession, Actor, int, Any], Awaitable[CampaignOutcome]]


async def _act(info: Info, input: inputs.CampaignActionInput, action: Action) -> Any:
    async def run(session: AsyncSession, actor: Actor) -> CampaignOutcome:
        return await action(session, actor, _campaign_id(input), input)

    async def render(outcome: CampaignOutcome) -> Any:
        return results.CampaignActionSuccess(campaign=await _campaign(info, outcome.campaign_id))

    return await mutate(info, results.CampaignActionResult, run, render, lambda o: [o.wallet_id])


async def pause_campaign(info: Info, input: inputs.CampaignActionInput) -> Any:
    now = info.context.state.now()
    return await _act(
        info,
        input,
        lambda s, actor, cid, i: service.pause_campaign(s, actor, cid, now, i.idempotency_key),
    )


async def resume_campaign(info: Info, input: inputs.CampaignActionInput) -> Any:
    now = info.context.state.now()
    return await _act(
        info,
        input,
        lambda s, actor, cid, i: service.resume_campaign(s, actor, cid, now, i.idempotency_key),
    )


async def cancel_campaign(info: Info, input: inputs.CampaignActionInput) -> Any:
    now = info.context.state.now()
    return await _act(
        info,
        input,
        lambda s, actor, cid, i: service.cancel_campaign(s, actor, cid, now, i.idempotency_key),
    )


async def reject_campaign(info: Info, input: inputs.CampaignActionInput) -> Any:
    now = info.context.state.now()
    return await _act(
        info,
        input,
        lambda s, actor, cid, i: service.reject_campaign(
            s, actor, cid, i.reason, now, i.idempotency_key
        ),
    )


async def record_spend(info: Info, input: inputs.RecordSpendInput) -> results.RecordSpendResult:
    ctx = info.context

    async def run(session: AsyncSession, actor: Actor) -> spend_service.SpendOutcome:
        # The request body cap bounds how many events can arrive; the service refuses
        # batches past MAX_EVENTS before looking at any of them.
        ids: dict[str, int | None] = {}  # a batch names few campaigns, each many times
        events = [_event(e, ids) for e in input.events]
        return await spend_service.record_spend(
            session, actor, events, ctx.state.billing, ctx.state.now()
        )

    async def render(outcome: spend_service.SpendOutcome) -> Any:
        stopped = [await _campaign(info, cid) for cid in outcome.stopped_campaign_ids]
        refused = [
            RefusedSpend(
                event_id=r.event_id,
                amount=Money.of(r.amount, r.currency),
                reason=r.reason,
                field=None if r.field is None else list(r.field),
                message=r.message,
            )
            for r in outcome.refused
        ]
        return results.RecordSpendSuccess(
            accepted=outcome.accepted,
            duplicates=outcome.duplicates,
            stopped_campaigns=stopped,
            refused=refused,
        )

    return await mutate(info, results.RecordSpendResult, run, render)


def _event(given: Any, ids: dict[str, int | None]) -> spend_service.SpendEventIn:
    campaign_id = ids.get(given.campaign_id, -1)
    if campaign_id == -1:
        campaign_id = ids[given.campaign_id] = db_id_of(given.campaign_id, "Campaign")
    return spend_service.SpendEventIn(
        event_id=given.event_id,
        campaign_id=campaign_id,
        amount=_money(given.amount),
        impressions=0 if given.impressions is None else given.impressions,
        occurred_at=given.occurred_at,
    )
