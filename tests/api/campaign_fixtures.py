"""Given: a subscribed business center with a PREPAID ad account, and the ad server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adledger.schema.ids import db_id_of
from tests.helpers import (
    Account,
    Api,
    Center,
    User,
    UserFactory,
    create_account,
    create_center,
    subscribe,
)


@dataclass
class Shop:
    center: Center
    account: Account
    admin: User
    adserver: User

    @property
    def token(self) -> str:
        return self.admin.token


async def open_shop(api: Api, users: UserFactory, cash: str = "0.00") -> Shop:
    admin = await users.create("admin")
    center = await create_center(api, admin)
    await users.fund(center.wallet_id, "199.00")
    subscribed = await subscribe(api, center)
    assert subscribed["invoice"]["status"] == "PAID", subscribed
    account = await create_account(api, center)
    if cash != "0.00":
        await users.fund(account.wallet_id, cash)
    adserver = await users.create("adserver", integration=True)
    return Shop(center, account, admin, adserver)


async def move_flight(
    sessions: async_sessionmaker[AsyncSession],
    campaign_gid: str,
    starts_at: datetime,
    ends_at: datetime,
) -> None:
    """Given a campaign whose flight lies elsewhere in time (the API refuses past dates).
    Its delivering intervals move with its start, so that it delivered in the moved flight
    what it delivered in the real one."""
    campaign_id = db_id_of(campaign_gid, "Campaign")
    async with sessions() as session:
        shift = await session.scalar(
            text("SELECT CAST(:s AS timestamptz) - starts_at FROM campaigns WHERE id = :id"),
            {"s": starts_at, "id": campaign_id},
        )
        await session.execute(
            text(
                "UPDATE campaigns SET starts_at = :s, ends_at = :e, "
                "delivering_since = delivering_since + :shift WHERE id = :id"
            ),
            {"s": starts_at, "e": ends_at, "shift": shift, "id": campaign_id},
        )
        await session.execute(
            text(
                "UPDATE campaign_delivery_intervals SET opened_at = opened_at + :shift, "
                "closed_at = closed_at + :shift WHERE campaign_id = :id"
            ),
            {"shift": shift, "id": campaign_id},
        )
        await session.commit()


TRANSACTIONS = """
query($id: ID!) {
  wallet(id: $id) {
    transactions(first: 50) {
      edges { node { kind bucket amount { amount } campaign { id } invoice { kind } } }
    }
  }
}"""


async def transactions(api: Api, wallet_id: str, token: str) -> list[dict[str, Any]]:
    data = await api.data(TRANSACTIONS, {"id": wallet_id}, token)
    return [edge["node"] for edge in data["wallet"]["transactions"]["edges"]]
