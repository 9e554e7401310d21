"""The business centers that objects named by their API type belong to."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from adledger.store import raw
from adledger.store.models import (
    AdAccount,
    BusinessCenter,
    BusinessCenterInvitation,
    Campaign,
    CancellationRequest,
    Invoice,
    MakegoodOffer,
    RefundRequest,
    Wallet,
)

# Every type a mutation's input names by id: the row's id, and its business center.
_CENTER_OF: dict[str, tuple[ColumnElement[int], ColumnElement[int]]] = {
    "BusinessCenter": (BusinessCenter.id, BusinessCenter.id),
    "AdAccount": (AdAccount.id, AdAccount.business_center_id),
    "Wallet": (Wallet.id, Wallet.business_center_id),
    "Campaign": (Campaign.id, Campaign.business_center_id),
    "Invoice": (Invoice.id, Invoice.business_center_id),
    "MakegoodOffer": (MakegoodOffer.id, MakegoodOffer.business_center_id),
    "RefundRequest": (RefundRequest.id, RefundRequest.business_center_id),
    "CancellationRequest": (CancellationRequest.id, CancellationRequest.business_center_id),
    "BusinessCenterInvitation": (
        BusinessCenterInvitation.id,
        BusinessCenterInvitation.business_center_id,
    ),
}
KNOWN_TYPES = frozenset(_CENTER_OF)


async def roles_in_centers_of(
    session: AsyncSession, user_id: int, ids: Mapping[str, Collection[int]]
) -> dict[int, str | None]:
    """The centers of the objects that exist among `ids` (type name → database ids; types
    not in KNOWN_TYPES are ignored) and the user's role in each (None: not a member), in
    one statement: what a mutation's answer check asks before every mutation naming one."""
    named = [(name, sorted(db_ids)) for name, db_ids in sorted(ids.items()) if name in _CENTER_OF]
    named = [(name, db_ids) for name, db_ids in named if db_ids]
    if not named:
        return {}
    selects = " UNION ".join(_center_select(name, n + 2) for n, (name, _) in enumerate(named))
    sql = (
        f"SELECT c.center_id, m.role FROM ({selects}) c LEFT JOIN memberships m "
        "ON m.business_center_id = c.center_id AND m.user_id = $1"
    )
    rows = await raw.fetch(session, sql, user_id, *(db_ids for _, db_ids in named))
    return {row[0]: row[1] for row in rows}


def _center_select(type_name: str, parameter: int) -> str:
    """The centers of this type's rows among the ids of `$parameter` (names from the models,
    never from input: `type_name` is a key of _CENTER_OF)."""
    row_id, center_id = _CENTER_OF[type_name]
    table = row_id.table.name
    return (
        f"SELECT {center_id.name} AS center_id FROM {table} WHERE id = ANY(${parameter}::bigint[])"
    )
