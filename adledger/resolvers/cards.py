"""createCardSetup: record the setup, commit, then make the provider's SetupIntent (an
outbox effect the service declares with it, which `ctx.write` runs at once)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.domain.errors import DomainError, PaymentProviderFailed
from adledger.resolvers.mutation import decode_id, user_error
from adledger.schema import inputs, results
from adledger.schema.types import BusinessCenter
from adledger.services import access, cards, effect_kinds

CENTER_FIELD = ("input", "businessCenterId")


async def create_card_setup(
    info: Info, input: inputs.CreateCardSetupInput
) -> results.CreateCardSetupResult:
    ctx = info.context
    actor = await ctx.require_actor()
    try:
        access.refuse_integration(actor)  # before any id is looked up
        center_id = decode_id(input.business_center_id, "BusinessCenter", CENTER_FIELD)

        async def run(session: AsyncSession) -> cards.SetupStarted:
            return await cards.begin_card_setup(session, actor, center_id, ctx.state.now())

        started = await ctx.write(run)  # and makes the provider's SetupIntent
        setup = ctx.effect(effect_kinds.open_card_setup_key(started.setup_id)).result()
        if setup is None:  # another process holds the effect: never for a new setup
            raise PaymentProviderFailed()
    except DomainError as err:
        return user_error(err, results.CreateCardSetupResult)
    center = BusinessCenter.from_row(await ctx.loaders.center.load(center_id))
    return results.CreateCardSetupSuccess(
        business_center=center, setup_reference=setup.reference, client_secret=setup.client_secret
    )
