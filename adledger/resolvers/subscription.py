"""walletUpdated: fed by Redis pub/sub, so a write in any API process reaches every subscriber.
Every subscription of the process shares the process's one pub/sub connection (the hub)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from adledger.domain.access import Permission
from adledger.schema.ids import db_id_of
from adledger.schema.types import Wallet


async def wallet_updated(info: Info, wallet_id: strawberry.ID) -> AsyncGenerator[Wallet, None]:
    ctx = info.context
    await ctx.require_actor()
    db_id = db_id_of(wallet_id, "Wallet")
    row = None if db_id is None else await ctx.loaders.wallet.load(db_id)
    if row is None or not await ctx.can(row.business_center_id, Permission.READ_MONEY):
        raise GraphQLError("no wallet has this id", extensions={"code": "NOT_FOUND"})
    await ctx.end_read()
    hub = ctx.state.pubsub_hub
    if hub is None:
        raise GraphQLError(
            "subscriptions are not served here", extensions={"code": "INTERNAL_ERROR"}
        )
    async with hub.listen(ctx.state.wallet_channel(row.id)) as updates:
        async for _ in updates:
            yield Wallet.from_row(await ctx.loaders.wallet.load(row.id))
            await ctx.end_read()
