"""Query entry points. An object the caller may not see answers null, exactly like one that
does not exist, so ids of other customers reveal nothing."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from adledger.domain.access import Permission
from adledger.resolvers.rate_limit import rate_limit_of
from adledger.schema.billing import Invoice, TopUp
from adledger.schema.campaigns import Campaign
from adledger.schema.events import Event
from adledger.schema.ids import db_id_of, from_global_id
from adledger.schema.rate_limit import RateLimit
from adledger.schema.types import AdAccount, BusinessCenter, Node, Viewer, Wallet
from adledger.schema.wallet_parts import WalletTransaction
from adledger.schema.webhooks import WebhookEndpoint


async def _visible_row(
    info: Info, global_id: str, type_name: str, loader: str, center_attr: str = "business_center_id"
) -> Any:
    """The row behind a global id when the caller may read its business center, else None."""
    await info.context.require_actor()
    db_id = db_id_of(global_id, type_name)
    row = None if db_id is None else await getattr(info.context.loaders, loader).load(db_id)
    if row is None or not await info.context.can(getattr(row, center_attr), Permission.READ):
        return None
    return row


async def rate_limit(info: Info) -> RateLimit:
    return await rate_limit_of(info.context)


async def viewer(info: Info) -> Viewer:
    actor = await info.context.require_actor()
    return Viewer(email=actor.email, is_staff=actor.is_staff)


async def business_center(info: Info, id: strawberry.ID) -> BusinessCenter | None:
    row = await _visible_row(info, id, "BusinessCenter", "center", "id")
    return None if row is None else BusinessCenter.from_row(row)


async def ad_account(info: Info, id: strawberry.ID) -> AdAccount | None:
    row = await _visible_row(info, id, "AdAccount", "ad_account")
    return None if row is None else AdAccount.from_row(row)


async def wallet(info: Info, id: strawberry.ID) -> Wallet | None:
    await info.context.require_actor()
    db_id = db_id_of(id, "Wallet")
    if db_id is None:
        return None
    balance = _selects(info.selected_fields, "balance")
    row = await info.context.visible_wallet(db_id, balances=balance)
    return None if row is None else Wallet.from_row(row)


def _selects(selections: list[Selection], name: str) -> bool:
    """Whether the field being resolved selects `name` (directly or in a fragment): a wallet
    read that shows its balance reads it in the same statement as the wallet."""
    return any(_selected(child, name) for field in selections for child in field.selections)


def _selected(selection: Selection, name: str) -> bool:
    if isinstance(selection, SelectedField):
        return selection.name == name
    return any(_selected(child, name) for child in selection.selections)


async def wallet_transaction(info: Info, id: strawberry.ID) -> WalletTransaction | None:
    row = await _visible_row(info, id, "WalletTransaction", "transaction")
    if row is None:
        return None
    await info.context.authorize(row.business_center_id, Permission.READ_MONEY)
    return WalletTransaction.from_row(row, row.currency)


async def campaign(info: Info, id: strawberry.ID) -> Campaign | None:
    row = await _visible_row(info, id, "Campaign", "campaign")
    return None if row is None else Campaign.from_row(row)


async def invoice(info: Info, id: strawberry.ID) -> Invoice | None:
    row = await _visible_row(info, id, "Invoice", "invoice")
    if row is None:
        return None
    await info.context.authorize(row.business_center_id, Permission.READ_MONEY)
    return Invoice.from_row(row)


async def top_up(info: Info, id: strawberry.ID) -> TopUp | None:
    await info.context.require_actor()
    db_id = db_id_of(id, "TopUp")
    row = None if db_id is None else await info.context.loaders.top_up.load(db_id)
    wallet_row = None if row is None else await info.context.visible_wallet(row.wallet_id)
    if wallet_row is None:
        return None
    await info.context.authorize(wallet_row.business_center_id, Permission.READ_MONEY)
    return TopUp.from_row(row)


async def event(info: Info, id: strawberry.ID) -> Event | None:
    """Like an invoice: another center's is null, a member who may not read money is told
    FORBIDDEN; one not numbered yet is not published (the feed does not show it either)."""
    row = await _visible_row(info, id, "Event", "event")
    if row is None or row.sequence is None:
        return None
    await info.context.authorize(row.business_center_id, Permission.READ_MONEY)
    return Event.from_row(row)


async def webhook_endpoint(info: Info, id: strawberry.ID) -> WebhookEndpoint | None:
    """As an event: another center's is null, a member who may not read money is told
    FORBIDDEN."""
    row = await _visible_row(info, id, "WebhookEndpoint", "webhook_endpoint")
    if row is None:
        return None
    await info.context.authorize(row.business_center_id, Permission.READ_MONEY)
    return WebhookEndpoint.from_row(row)


_NODE_RESOLVERS = {
    "Event": event,
    "WebhookEndpoint": webhook_endpoint,
    "Invoice": invoice,
    "Campaign": campaign,
    "TopUp": top_up,
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
