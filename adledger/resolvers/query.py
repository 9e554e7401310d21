"""Query entry points. An object the caller may not see answers null, exactly like one that
does not exist, so ids of other customers reveal nothing."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from adledger.domain.access import Permission
from adledger.schema.ids import db_id_of, from_global_id
from adledger.schema.types import (
    AdAccount,
    BusinessCenter,
    Node,
    Viewer,
    Wallet,
    WalletTransaction,
)


async def _visible(info: Info, row: Any, center_id_attr: str) -> bool:
    if row is None:
        return False
    return bool(await info.context.can(getattr(row, center_id_attr), Permission.READ))


async def viewer(info: Info) -> Viewer:
    actor = await info.context.require_actor()
    return Viewer(email=actor.email, is_staff=actor.is_staff)


async def business_center(info: Info, id: strawberry.ID) -> BusinessCenter | None:
    await info.context.require_actor()
    db_id = db_id_of(id, "BusinessCenter")
    row = None if db_id is None else await info.context.loaders.center.load(db_id)
    return BusinessCenter.from_row(row) if await _visible(info, row, "id") else None


async def ad_account(info: Info, id: strawberry.ID) -> AdAccount | None:
    await info.context.require_actor()
    db_id = db_id_of(id, "AdAccount")
    row = None if db_id is None else await info.context.loaders.ad_account.load(db_id)
    return AdAccount.from_row(row) if await _visible(info, row, "business_center_id") else None


async def wallet(info: Info, id: strawberry.ID) -> Wallet | None:
    await info.context.require_actor()
    db_id = db_id_of(id, "Wallet")
    row = None if db_id is None else await info.context.loaders.wallet.load(db_id)
    return Wallet.from_row(row) if await _visible(info, row, "business_center_id") else None


async def wallet_transaction(info: Info, id: strawberry.ID) -> WalletTransaction | None:
    db_id = db_id_of(id, "WalletTransaction")
    row = None if db_id is None else await info.context.loaders.transaction.load(db_id)
    wallet_row = None if row is None else await info.context.loaders.wallet.load(row.wallet_id)
    if not await _visible(info, wallet_row, "business_center_id"):
        return None
    await info.context.authorize(wallet_row.business_center_id, Permission.READ_MONEY)
    return WalletTransaction.from_row(row, wallet_row.currency)


_NODE_RESOLVERS = {
    "WalletTransaction": wallet_transaction,
    "BusinessCenter": business_center,
    "AdAccount": ad_account,
    "Wallet": wallet,
}


async def node(info: Info, id: strawberry.ID) -> Node | None:
    await info.context.require_actor()
    parsed = from_global_id(id)
    resolver = _NODE_RESOLVERS.get(parsed[0]) if parsed else None
    return None if resolver is None else await resolver(info, id)  # type: ignore[return-value]
