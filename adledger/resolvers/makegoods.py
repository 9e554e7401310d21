"""Makegoods: staff flag and offer, the customer accepts or declines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.domain.campaigns import Flight
from adledger.domain.instants import utc_instant
from adledger.resolvers.mutation import decode_id, mutate
from adledger.schema import inputs, results
from adledger.schema.campaigns import Campaign
from adledger.services import makegoods as service
from adledger.services.actor import Actor

CAMPAIGN_FIELD = ("input", "campaignId")
OFFER_FIELD = ("input", "offerId")


def _render(info: Info) -> Any:
    async def render(outcome: service.MakegoodOutcome) -> Any:
        row = await info.context.loaders.campaign.load(outcome.campaign_id)
        return results.MakegoodSuccess(campaign=Campaign.from_row(row))

    return render


async def flag_underdelivery(
    info: Info, input: inputs.FlagUnderdeliveryInput
) -> results.MakegoodResult:
    now = info.context.state.now()

    async def run(session: AsyncSession, actor: Actor) -> service.MakegoodOutcome:
        campaign_id = decode_id(input.campaign_id, "Campaign", CAMPAIGN_FIELD)
        return await service.flag_underdelivery(session, actor, campaign_id, input.message, now)

    return await mutate(info, results.MakegoodResult, run, _render(info))


async def offer_makegood(info: Info, input: inputs.OfferMakegoodInput) -> results.MakegoodResult:
    now = info.context.state.now()

    async def run(session: AsyncSession, actor: Actor) -> service.MakegoodOutcome:
        campaign_id = decode_id(input.campaign_id, "Campaign", CAMPAIGN_FIELD)
        kind = service.MakegoodKind(input.kind.value)
        dates = (_utc(input.starts_at, "startsAt"), _utc(input.ends_at, "endsAt"))
        flight = Flight(*dates) if dates[0] and dates[1] else None
        return await service.offer_makegood(
            session, actor, campaign_id, kind, input.note, now, flight
        )

    return await mutate(info, results.MakegoodResult, run, _render(info))


def _utc(given: datetime | None, name: str) -> datetime | None:
    """Dates given with any kind of offer are stored: each must be an instant first."""
    return None if given is None else utc_instant(given, ("input", name))


async def accept_makegood(info: Info, input: inputs.DecideMakegoodInput) -> results.MakegoodResult:
    now = info.context.state.now()

    async def run(session: AsyncSession, actor: Actor) -> service.MakegoodOutcome:
        offer_id = decode_id(input.offer_id, "MakegoodOffer", OFFER_FIELD)
        return await service.accept_makegood(session, actor, offer_id, now, input.idempotency_key)

    return await mutate(info, results.MakegoodResult, run, _render(info), lambda o: [o.wallet_id])


async def decline_makegood(info: Info, input: inputs.DecideMakegoodInput) -> results.MakegoodResult:
    now = info.context.state.now()

    async def run(session: AsyncSession, actor: Actor) -> service.MakegoodOutcome:
        offer_id = decode_id(input.offer_id, "MakegoodOffer", OFFER_FIELD)
        return await service.decline_makegood(session, actor, offer_id, now)

    return await mutate(info, results.MakegoodResult, run, _render(info))
