"""walletUpdated: fed by Redis pub/sub, so a write in any API process reaches every subscriber."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from adledger.domain.access import Permission
from adledger.resolvers.context import wallet_channel
from adledger.schema.ids import db_id_of
from adledger.schema.types import Wallet


async def wallet_updated(info: Info, wallet_id: strawberry.ID) -> AsyncGenerator[Wallet, None]:
    ctx = info.context
    await ctx.require_actor()
    db_id = db_id_of(wallet_id, "Wallet")
    row = None if db_id is None else await ctx.loaders.wallet.load(db_id)
    if row is None or not await ctx.can(row.business_center_id, Permission.READ_MONEY):
        raise GraphQLError("wallet not found", extensions={"code": "NOT_FOUND"})
    await ctx.end_read()
    pubsub = ctx.state.redis.pubsub()
    await pubsub.subscribe(wallet_channel(row.id))
    try:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            yield Wallet.from_row(await ctx.loaders.wallet.load(row.id))
            await ctx.end_read()
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
