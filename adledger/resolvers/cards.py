"""createCardSetup: record the setup, commit, then make the provider's SetupIntent."""

from __future__ import annotations

from strawberry.types import Info

from adledger.domain.errors import DomainError
from adledger.resolvers.mutation import decode_id, user_error
from adledger.schema import inputs, results
from adledger.schema.types import BusinessCenter
from adledger.services import access, cards

CENTER_FIELD = ("input", "businessCenterId")


async def create_card_setup(
    info: Info, input: inputs.CreateCardSetupInput
) -> results.CreateCardSetupResult:
    ctx = info.context
    actor = await ctx.require_actor()
    try:
        access.refuse_integration(actor)  # before any id is looked up
        center_id = decode_id(input.business_center_id, "BusinessCenter", CENTER_FIELD)
        started = await ctx.write(
            lambda s: cards.begin_card_setup(s, actor, center_id, ctx.state.now())
        )
        setup = await cards.open_card_setup(ctx.write, ctx.state.provider, started)
    except DomainError as err:
        return user_error(err, results.CreateCardSetupResult)
    center = BusinessCenter.from_row(await ctx.loaders.center.load(center_id))
    return results.CreateCardSetupSuccess(
        business_center=center, setup_reference=setup.reference, client_secret=setup.client_secret
    )
