"""The business centers that objects named by their API type belong to."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import ColumnElement, select, union
from sqlalchemy.ext.asyncio import AsyncSession

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


async def centers_of(session: AsyncSession, ids: Mapping[str, Collection[int]]) -> set[int]:
    """The centers of the objects that exist among `ids` (type name → database ids); types
    not in KNOWN_TYPES are ignored. One statement."""
    selects = [
        select(_CENTER_OF[type_name][1].label("center_id")).where(
            _CENTER_OF[type_name][0].in_(sorted(db_ids))
        )
        for type_name, db_ids in sorted(ids.items())
        if type_name in _CENTER_OF and db_ids
    ]
    if not selects:
        return set()
    statement = selects[0] if len(selects) == 1 else union(*selects)
    return {center_id for (center_id,) in (await session.execute(statement)).all()}
